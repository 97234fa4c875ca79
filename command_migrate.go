package bbbbalance

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/signal"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/bbb-balance/bbb_balance/store"
)

// addMigrateCommand adds `caddy bbb migrate`, which copies a SQLite
// database into PostgreSQL. Unlike the other commands it works on the
// databases themselves: the balancer it moves may be stopped.
func (c *bbbCLI) addMigrateCommand(root *cobra.Command) {
	cmd := c.leaf("migrate", "--from FILE --to URL", "Copies a SQLite database into PostgreSQL (directly, not through the admin API)", 0, 0, c.migrate)
	cmd.Long = `Copies the whole state of a SQLite database (meetings, server and tenant
changes, the recordings index, callbacks, deliveries, nonces, signing keys)
into a PostgreSQL database, in one transaction, and checks every row.

The PostgreSQL tables end up equal to the SQLite ones: rows only the
destination had are removed, so run it again after stopping the balancer to
carry what changed meanwhile (only that is written). It refuses while
balancer instances use the destination.`
	cmd.Flags().String("from", "", "The SQLite database file to copy (the database setting of the balancer, or sqlite://FILE)")
	cmd.Flags().String("to", "", "The PostgreSQL database to copy into (postgres://USER:PASSWORD@HOST/DB?sslmode=...)")
	root.AddCommand(cmd)
}

func (c *bbbCLI) migrate(cmd *cobra.Command, _ []string) error {
	from, _ := cmd.Flags().GetString("from")
	to, _ := cmd.Flags().GetString("to")
	if from == "" || to == "" {
		return errors.New("--from FILE and --to URL are both required")
	}
	fromEngine, path := store.ParseLocation(from)
	if fromEngine != store.SQLite {
		return fmt.Errorf("--from %s is a PostgreSQL database; the source must be a SQLite file", store.Redact(from))
	}
	if toEngine, _ := store.ParseLocation(to); toEngine != store.Postgres {
		return fmt.Errorf("--to %s is not a PostgreSQL URL (postgres://...)", to)
	}
	// Opening a missing file would create an empty database, and copying
	// that would empty the destination.
	if fi, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("no SQLite database at %s", path)
	} else if err != nil {
		return err
	} else if fi.IsDir() {
		return fmt.Errorf("%s is a directory, not a SQLite database", path)
	}

	// Interrupted, the copy rolls back and the destination stays as it was.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	src, err := store.Open(ctx, path)
	if err != nil {
		return err
	}
	defer src.Close()
	dst, err := store.Open(ctx, to)
	if err != nil {
		return err
	}
	defer dst.Close()

	fmt.Fprintf(cmd.ErrOrStderr(), "warning: the copy is of %s as it is when the copy starts. Stop the balancer using it first,\n"+
		"or accept that its changes after that are not copied; running this again copies them.\n", path)
	start := time.Now()
	rep, err := store.Copy(ctx, src, dst)
	if len(rep.Tables) > 0 {
		w := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 0, 2, ' ', 0)
		fmt.Fprintln(w, "TABLE\tSQLITE\tPOSTGRES\tWRITTEN\tREMOVED")
		for _, t := range rep.Tables {
			fmt.Fprintf(w, "%s\t%d\t%d\t%d\t%d\n", t.Table, t.Source, t.Dest, t.Written, t.Removed)
		}
		if err := w.Flush(); err != nil {
			return err
		}
	}
	if err != nil {
		return err
	}
	var rows, written, removed int64
	for _, t := range rep.Tables {
		rows, written, removed = rows+t.Source, written+t.Written, removed+t.Removed
	}
	fmt.Fprintf(cmd.OutOrStdout(), "copied in %s: the %d rows of %d tables of %s are in %s (%d written, %d removed)\n",
		time.Since(start).Round(time.Millisecond), rows, len(rep.Tables), path, store.Redact(to), written, removed)
	return nil
}
