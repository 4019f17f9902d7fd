package alert_test

import (
	"bytes"
	"errors"
	"testing"

	"github.com/takecare-network/takecare/alert"
	"github.com/takecare-network/takecare/crypto"
)

// The seed corpora are in testdata/fuzz/<target>/. Run with, for example,
// go test -run '^$' -fuzz '^FuzzDecode$' -fuzztime 30s ./alert

var (
	fuzzGroup  = crypto.GroupID{0xf0, 0x0d}
	fuzzAuthor = crypto.MemberID{0xa0, 0x7b}
)

// FuzzDecode: bodies are chosen by their (possibly malicious) author. Every
// body that decodes must be the one canonical encoding of its content, so
// that a signature and an id cover exactly one message; and nothing may
// panic, including Validate and Expires on whatever decoded.
func FuzzDecode(f *testing.F) {
	f.Fuzz(func(t *testing.T, body []byte) {
		m, err := alert.Decode(fuzzGroup, 3, fuzzAuthor, body)
		if err != nil {
			if !errors.Is(err, alert.ErrMalformed) {
				t.Fatalf("Decode error %v does not wrap ErrMalformed", err)
			}
			return
		}
		again, err := alert.EncodeVia(m.Created, m.Content, m.Via)
		if err != nil {
			t.Fatalf("a decoded body does not encode: %v", err)
		}
		if !bytes.Equal(again, body) {
			t.Fatalf("Decode accepted a non-canonical body:\n in  %x\n out %x", body, again)
		}
		want := alert.ContentID(fuzzGroup, fuzzAuthor, body)
		if a, ok := m.Content.(*alert.Alert); ok && a.Kind == alert.KindOverdue {
			want = alert.OverdueID(fuzzGroup, a.CheckIn, a.Level)
		}
		if m.ID != want {
			t.Fatalf("ID = %s, want %s", m.ID, want)
		}
		if m.Group != fuzzGroup || m.Author != fuzzAuthor || m.Epoch != 3 {
			t.Fatal("Decode changed the envelope fields")
		}
		_ = m.Expires()
		if err := m.Validate(m.Created); err != nil && !errors.Is(err, alert.ErrInvalid) &&
			!errors.Is(err, alert.ErrUnknownKind) && !alert.IsStale(err) {
			t.Fatalf("Validate error %v wraps no sentinel", err)
		}
		if _, ok := m.Content.(*alert.RosterOp); ok {
			// A roster op that decodes must also be safe to offer to a
			// roster (it will fail to verify: the signature is random).
			r := alert.NewRoster(fuzzGroup)
			if _, err := r.Add(alert.SignedOp{Epoch: 3, Inner: crypto.Inner{Author: fuzzAuthor, Body: body}}); err == nil {
				t.Fatal("a roster accepted an unsigned op")
			}
		}
	})
}

// FuzzDecodeMember: member records arrive in join requests from people who
// hold an invite code, before they are members.
func FuzzDecodeMember(f *testing.F) {
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := alert.DecodeMember(b)
		if err != nil {
			if !errors.Is(err, alert.ErrMalformed) {
				t.Fatalf("error %v does not wrap ErrMalformed", err)
			}
			return
		}
		again, err := alert.EncodeMember(m)
		if err != nil || !bytes.Equal(again, b) {
			t.Fatalf("DecodeMember accepted a non-canonical record: %v", err)
		}
	})
}
