package smsbridge_test

import (
	"testing"
	"unicode/utf8"

	"github.com/takecare-network/takecare/node/smsbridge"
)

// FuzzParse reads what anyone can send to the bridge's number: it never
// panics, and a command it takes has a code (except help) and, for a
// check-in, a destination.
func FuzzParse(f *testing.F) {
	for _, s := range []string{"PÁNICO 123456", "SALGO de Juchitán a Ixtepec a las 6pm 123456", "LLEGUÉ 1234", "voy a1b2c3 123456",
		"no puedo", "AYUDA", "SALGO a 99:99 123456", "\x00\xff", "salgo a 1h30m 12345678"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c, err := smsbridge.Parse(s)
		if err != nil {
			return
		}
		if c.Verb != smsbridge.VerbHelp && c.Code == "" {
			t.Fatalf("%q: taken without a code", s)
		}
		if c.Verb == smsbridge.VerbCheckIn && c.To == "" {
			t.Fatalf("%q: a check-in without a destination", s)
		}
		if utf8.ValidString(s) && !utf8.ValidString(c.To+c.From+c.Text) {
			t.Fatalf("%q: invalid UTF-8 out of valid", s)
		}
	})
}

// FuzzGrantCode: a grant code that parses encodes back to itself.
func FuzzGrantCode(f *testing.F) {
	f.Add("TCG1-AAAA")
	f.Add("tcg1-" + string(make([]byte, 244)))
	f.Fuzz(func(t *testing.T, s string) {
		gid, member, v, err := smsbridge.ParseGrantCode(s)
		if err != nil {
			return
		}
		again := smsbridge.GrantCode(gid, member, v)
		if _, _, v2, err := smsbridge.ParseGrantCode(again); err != nil || v2 != v {
			t.Fatalf("%q: does not parse back: %v", s, err)
		}
	})
}
