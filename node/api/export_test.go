package api

import "io/fs"

// WebFile returns an embedded file of the web UI.
func WebFile(name string) ([]byte, error) { return fs.ReadFile(webFS, name) }
