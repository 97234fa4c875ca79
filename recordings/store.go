package recordings

import (
	"context"
	"errors"
)

// Entry is a recording as the balancer keeps it: what its metadata.xml
// files said, merged (Recording), plus what the balancer knows beside it.
type Entry struct {
	Recording
	// ServerID is the pool server that made the recording (found from the
	// host of its playback links, or from the server that uploaded it);
	// "" when unknown. Text-track calls go there.
	ServerID string
	// Protected recordings are played only through one-time links.
	Protected bool
	// Bytes is the size of its files on disk, every format in both trees;
	// -1 while not known (recordings indexed before the index kept it,
	// until the importer's walk fills it in, and after a format is removed).
	Bytes int64
	// PublishSet is true once publishRecordings changed the recording:
	// a re-import then keeps its published state.
	PublishSet bool
	// Tenant owns the recording ("" the default tenant); MeetingID is
	// then the id that tenant's front-end knows.
	Tenant string
}

// State values of a recording (bbb-api.md §2.8).
const (
	StateProcessing  = "processing"
	StateProcessed   = "processed"
	StatePublished   = "published"
	StateUnpublished = "unpublished"
	StateDeleted     = "deleted"
)

// MetaFilter is one meta_<key>=<value> filter of getRecordings. Key is
// lowercased; Value may use BBB's wildcards: "%x%" contains, "%x" ends
// with, "x%" starts with, anything else is an exact match.
type MetaFilter struct {
	Key   string
	Value string
}

// Query selects recordings the way getRecordings does (bbb-api.md §2.8):
// every non-empty criterion must hold.
type Query struct {
	RecordIDs  []string // prefixes of record ids; when set, MeetingIDs is ignored
	MeetingIDs []string // external meeting ids, exact
	States     []string // nil: published and unpublished; contains "any": every state
	Meta       []MetaFilter
	Offset     int
	Limit      int // 0: no limit
	// Tenant: only this tenant's recordings, unless AllTenants.
	Tenant     string
	AllTenants bool
}

// Store is the recordings index. store.DB implements it on SQLite.
type Store interface {
	// Recording returns one recording by its exact id.
	Recording(ctx context.Context, id string) (Entry, bool, error)
	// Recordings returns the recordings with these exact ids that exist,
	// in no particular order.
	Recordings(ctx context.Context, ids []string) ([]Entry, error)
	// Find calls each for the recordings matching q, newest first, one
	// page when q.Limit > 0, and returns how many match in all (counted
	// only when q.Limit > 0; otherwise the number passed to each). It
	// streams: a fetch-all over a large index is never held in memory.
	Find(ctx context.Context, q Query, each func(*Entry) error) (int, error)
	// SaveImports writes imported recordings in one transaction: for
	// each entry, fields, formats, thumbnails and metadata are replaced by
	// its own, then the metadata edits made through UpdateMeta are applied
	// again over them. The commit is durable when it returns: synced to
	// stable storage, not only safe from a crash of the process (the
	// importer removes the recordings' tars next). It returns the entries
	// as stored, in the order of es; an error means nothing was committed.
	SaveImports(ctx context.Context, es []Entry) ([]Entry, error)
	// SetPublished sets the published flag and state of a recording and
	// marks it PublishSet.
	SetPublished(ctx context.Context, id string, published bool) error
	// MarkDeleted gives a recording the state "deleted" and drops its
	// formats (its files are gone); with format != "" only that format
	// is dropped, and the recording is deleted when none is left.
	MarkDeleted(ctx context.Context, id, format string) error
	// UpdateMeta sets (value != "") or removes (value == "") metadata
	// keys of each recording, and remembers the change for re-imports.
	UpdateMeta(ctx context.Context, ids []string, changes []MetaEntry) error
	// SetProtected sets the protected flag of each recording.
	SetProtected(ctx context.Context, ids []string, protected bool) error
}

// ErrNotFound is returned for a recording that is not in the index.
var ErrNotFound = errors.New("recordings: no such recording")

// Stats is how many recordings one tenant has in one state, and their
// size: their files on disk (Entry.Bytes), or, while that is not known,
// their formats' sizes as their metadata.xml gives them.
type Stats struct {
	Tenant     string `json:"tenant"`
	State      string `json:"state"`
	Recordings int64  `json:"recordings"`
	Bytes      int64  `json:"bytes"`
}

// StatsStore is a Store that can sum up the index.
type StatsStore interface {
	// RecordingStats returns one Stats per tenant and state that has
	// recordings, by tenant then state.
	RecordingStats(ctx context.Context) ([]Stats, error)
}

// SizeStore is a Store that keeps each recording's size on disk.
type SizeStore interface {
	// UnsizedRecordings returns up to limit ids of recordings, not
	// deleted, whose Bytes is not known.
	UnsizedRecordings(ctx context.Context, limit int) ([]string, error)
	// SetRecordingBytes records a recording's size on disk.
	SetRecordingBytes(ctx context.Context, id string, bytes int64) error
}
