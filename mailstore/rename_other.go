//go:build !linux

package mailstore

// renameNoReplace renames oldpath to newpath unless newpath exists, in
// which case the error wraps fs.ErrExist.
func renameNoReplace(oldpath, newpath string) error { return renameIfAbsent(oldpath, newpath) }
