package main

import (
	"fmt"
	"io"
	"unicode"
	"unicode/utf8"
)

// safeWriter is what every command writes to standard output and error
// through. Much of what the CLI prints comes from other people's devices
// (names, places, alert text, a join refusal, errors carrying them), and a
// terminal obeys control characters: an escape sequence can clear the
// screen, rewrite earlier lines or set the window title, and a
// bidirectional override can make "anA nimda" read "admin Ana". So it
// writes every control character other than line feed and tab, and every
// bidirectional embedding, override and isolate, as a visible \uXXXX
// escape. In JSON output that escape is the same character (JSON's own
// escape), so scripts read the same data.
type safeWriter struct{ w io.Writer }

func (s safeWriter) Write(p []byte) (int, error) {
	clean := true
	for _, r := range string(p) {
		if unsafeRune(r) {
			clean = false
			break
		}
	}
	if clean {
		return s.w.Write(p)
	}
	out := make([]byte, 0, len(p)+16)
	for i := 0; i < len(p); {
		r, size := utf8.DecodeRune(p[i:])
		if unsafeRune(r) && !(r == utf8.RuneError && size == 1) {
			out = fmt.Appendf(out, `\u%04x`, r)
		} else {
			out = append(out, p[i:i+size]...)
		}
		i += size
	}
	if _, err := s.w.Write(out); err != nil {
		return 0, err
	}
	return len(p), nil
}

// unsafeRune reports whether r changes what a terminal shows other than by
// being shown: a control character (C0 other than line feed and tab, DEL,
// C1) or a bidirectional control (U+202A–U+202E, U+2066–U+2069).
func unsafeRune(r rune) bool {
	switch {
	case r == '\n' || r == '\t':
		return false
	case unicode.IsControl(r):
		return true
	}
	return r >= 0x202A && r <= 0x202E || r >= 0x2066 && r <= 0x2069
}
