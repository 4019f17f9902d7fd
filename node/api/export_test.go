package api

import "io/fs"

// WebFile returns an embedded file of the web UI.
func WebFile(name string) ([]byte, error) { return fs.ReadFile(webFS, name) }

// ErrorCodes returns every stable error code the API sends.
func ErrorCodes() []string {
	out := []string{"internal"}
	for _, c := range errorCodes {
		out = append(out, c.code)
	}
	return out
}
