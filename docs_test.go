package bbbbalance

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/spf13/cobra"

	"github.com/bbb-balance/bbb_balance/api"
	"github.com/bbb-balance/bbb_balance/callbacks"
	"github.com/bbb-balance/bbb_balance/playback"
	"github.com/bbb-balance/bbb_balance/recordings"
	"github.com/bbb-balance/bbb_balance/scaleliteapi"
)

// The docs that say what the code does are checked against the code, so
// that they stay true as it moves.

// TestCaddyfileSyntaxDocumented: every keyword the Caddyfile parser
// accepts (a case of a switch in caddyfile*.go) is in the syntax of
// UnmarshalCaddyfile's doc comment and in README's Caddyfile block, and
// neither names a setting the parser does not accept.
func TestCaddyfileSyntaxDocumented(t *testing.T) {
	files, err := filepath.Glob("caddyfile*.go")
	if err != nil {
		t.Fatal(err)
	}
	checkSyntaxDocumented(t, "bbb_balance", files, 40)
}

// TestConsoleSyntaxDocumented: the same for the bbb_console directive,
// parsed in console.go.
func TestConsoleSyntaxDocumented(t *testing.T) {
	checkSyntaxDocumented(t, "bbb_console", []string{"console.go"}, 2)
}

// checkSyntaxDocumented checks a directive's keywords, parsed in files,
// against the syntax of the doc comment of UnmarshalCaddyfile in those
// files and against the first ```caddyfile block of README that has the
// directive.
func checkSyntaxDocumented(t *testing.T, directive string, files []string, atLeast int) {
	t.Helper()
	fset := token.NewFileSet()
	accepted := map[string]bool{}
	var doc string
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f := parseGo(t, fset, name)
		ast.Inspect(f, func(n ast.Node) bool {
			switch n := n.(type) {
			case *ast.FuncDecl:
				if n.Name.Name == "UnmarshalCaddyfile" {
					doc = n.Doc.Text()
				}
			case *ast.CaseClause:
				for _, e := range n.List {
					if lit, ok := e.(*ast.BasicLit); ok && lit.Kind == token.STRING {
						s, _ := strconv.Unquote(lit.Value)
						accepted[s] = true
					}
				}
			}
			return true
		})
	}
	if len(accepted) < atLeast || doc == "" {
		t.Fatalf("found %d keywords and a doc comment of %d bytes: the scan is broken", len(accepted), len(doc))
	}
	var syntax []string
	for _, line := range strings.Split(doc, "\n") {
		if strings.HasPrefix(line, "\t") {
			syntax = append(syntax, line)
		}
	}
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	block := caddyfileBlock(string(readme), directive)
	if len(block) == 0 {
		t.Fatalf("README.md has no ```caddyfile block with a %s directive", directive)
	}
	for where, lines := range map[string][]string{"UnmarshalCaddyfile's doc comment": syntax, "README.md's Caddyfile block": block} {
		named := settingNames(lines)
		for kw := range accepted {
			if !named[kw] {
				t.Errorf("%s does not show %q, which the parser accepts", where, kw)
			}
		}
		for kw := range named {
			if !accepted[kw] && kw != directive {
				t.Errorf("%s shows %q, which the parser does not accept", where, kw)
			}
		}
	}
}

// caddyfileBlock returns the lines of a directive in the first
// ```caddyfile block of a README that has it, comments cut off.
func caddyfileBlock(readme, directive string) []string {
	for {
		_, rest, ok := strings.Cut(readme, "```caddyfile\n")
		if !ok {
			return nil
		}
		block, after, _ := strings.Cut(rest, "```")
		readme = after
		var lines []string
		depth := 0
		for _, line := range strings.Split(block, "\n") {
			line, _, _ = strings.Cut(line, "#")
			if depth == 0 && !strings.HasPrefix(strings.TrimSpace(line), directive) {
				continue
			}
			lines = append(lines, line)
			depth += strings.Count(line, "{") - strings.Count(line, "}")
			if depth == 0 {
				break
			}
		}
		if len(lines) > 0 {
			return lines
		}
	}
}

// settingNames are the first words of syntax lines, alternatives split
// (spool_dir|work_dir <dir>, create|join {).
func settingNames(lines []string) map[string]bool {
	names := map[string]bool{}
	for _, line := range lines {
		fields := strings.Fields(line)
		if len(fields) == 0 || fields[0] == "}" {
			continue
		}
		for _, name := range strings.Split(fields[0], "|") {
			names[name] = true
		}
	}
	return names
}

// TestPackagesDocumented: the package doc (doc.go) lists every package of
// the repository, and only those.
func TestPackagesDocumented(t *testing.T) {
	f := parseGo(t, token.NewFileSet(), "doc.go")
	listed := map[string]bool{}
	for _, line := range strings.Split(f.Doc.Text(), "\n") {
		if fields := strings.Fields(line); strings.HasPrefix(line, "\t") && len(fields) > 1 {
			listed[strings.TrimSuffix(fields[0], "/")] = true
		}
	}
	found := map[string]bool{}
	err := filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && path != "." && (strings.HasPrefix(d.Name(), ".") || d.Name() == "testdata" || d.Name() == "node_modules") {
			return filepath.SkipDir
		}
		if dir := filepath.ToSlash(filepath.Dir(path)); !d.IsDir() && dir != "." && strings.HasSuffix(path, ".go") {
			found[dir] = true
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, dir := range sortedKeys(found) {
		if !listed[dir] {
			t.Errorf("package %s/ is not listed in doc.go's package doc", dir)
		}
	}
	for _, dir := range sortedKeys(listed) {
		if !found[dir] {
			t.Errorf("doc.go lists %s/, which holds no Go package", dir)
		}
	}
}

// TestHandlerDocNamesItsPaths: the Handler's doc comment names every path
// group ServeHTTP answers.
func TestHandlerDocNamesItsPaths(t *testing.T) {
	f := parseGo(t, token.NewFileSet(), "module.go")
	var doc string
	for _, decl := range f.Decls {
		if g, ok := decl.(*ast.GenDecl); ok && g.Tok == token.TYPE && g.Specs[0].(*ast.TypeSpec).Name.Name == "Handler" {
			doc = strings.Join(strings.Fields(g.Doc.Text()), " ")
		}
	}
	paths := []string{api.Prefix, scaleliteapi.Prefix, UploadPath, StatusPath, HealthCheckPath, callbacks.Prefix, recordings.LinkPrefix,
		"/playback/presentation/2.0/playback.html", "/playback/video/", "/recording/screenshare/"}
	for format := range playback.Formats {
		paths = append(paths, format)
	}
	for _, p := range paths {
		if !strings.Contains(doc, p) {
			t.Errorf("the Handler's doc comment does not name %s", p)
		}
	}
}

// TestBBBHelpListsEveryCommand: the help of 'caddy bbb' shows every
// command of its tree, and its usage line every command group.
func TestBBBHelpListsEveryCommand(t *testing.T) {
	root := BBBCommand()
	var leaves int
	var walk func(cmd *cobra.Command, path string)
	walk = func(cmd *cobra.Command, path string) {
		if !cmd.HasSubCommands() {
			leaves++
			if !helpShows(path, cmd.Name()) {
				t.Errorf("the help of 'caddy bbb' has no line for %q", path+" "+cmd.Name())
			}
			return
		}
		for _, sub := range cmd.Commands() {
			walk(sub, path+" "+cmd.Name())
		}
	}
	for _, sub := range root.Commands() {
		walk(sub, "caddy bbb")
		if !strings.Contains(" "+bbbUsage+" ", " "+sub.Name()+" ") {
			t.Errorf("the usage of 'caddy bbb' does not name %q", sub.Name())
		}
	}
	if leaves < 15 {
		t.Fatalf("found %d commands: the walk is broken", leaves)
	}
}

// helpShows reports whether bbbLong has a line "<path> <name>...", where
// name may be one of alternatives (servers enable|cordon|disable <id>).
func helpShows(path, name string) bool {
	for _, line := range strings.Split(bbbLong, "\n") {
		rest, ok := strings.CutPrefix(strings.TrimSpace(line), path+" ")
		if fields := strings.Fields(rest); ok && len(fields) > 0 {
			for _, alt := range strings.Split(fields[0], "|") {
				if alt == name {
					return true
				}
			}
		}
	}
	return false
}

func parseGo(t *testing.T, fset *token.FileSet, name string) *ast.File {
	t.Helper()
	f, err := parser.ParseFile(fset, name, nil, parser.ParseComments)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func sortedKeys(m map[string]bool) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
