package recordings

import "context"

// Files moves and removes the files of recordings; Library implements it.
type Files interface {
	// Lock keeps imports and other changes off one recording until unlock.
	Lock(id string) (unlock func())
	SetPublished(id string, formats []string, published bool) error
	Remove(id, format string) error
}

// Delete deletes a recording the way BBB's deleteRecordings does: its
// files in both trees are removed and it stays in the index with the state
// "deleted" (BBB lists it with state=deleted); with format != "" only that
// format goes (the recording is deleted when none is left). files nil:
// the index only. Every deletion, the API's and retention's, is this one.
func Delete(ctx context.Context, index Store, files Files, id, format string) error {
	if files != nil {
		defer files.Lock(id)()
	}
	return deleteLocked(ctx, index, files, id, format)
}

// deleteLocked is Delete for a caller holding files.Lock(id).
func deleteLocked(ctx context.Context, index Store, files Files, id, format string) error {
	// The row goes first: a crash between the two leaves files nobody
	// lists (removed again by a later delete, found by a check), never a
	// listed recording without files.
	if err := index.MarkDeleted(ctx, id, format); err != nil {
		return err
	}
	if files == nil {
		return nil
	}
	return files.Remove(id, format)
}
