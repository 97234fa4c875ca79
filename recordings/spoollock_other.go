//go:build !unix

package recordings

// lockSpool: no cross-process lock on this platform; one importer per
// library is the operator's duty.
func (l *Library) lockSpool() (release func(), ok bool, err error) {
	return func() {}, true, nil
}
