package alert_test

import (
	"testing"
	"time"

	"github.com/takecare-network/takecare/alert"
	"github.com/takecare-network/takecare/crypto"
)

// t0 is the creation time most tests use. It is built with time.UnixMilli,
// like every time Decode returns, so that decoded values compare equal.
var t0 = time.UnixMilli(1_750_000_000_000)

func newIdentity(t testing.TB, name string) *crypto.Identity {
	t.Helper()
	id, err := crypto.NewIdentity(name)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func info(id *crypto.Identity) alert.MemberInfo {
	return alert.MemberInfo{Name: id.Name(), Keys: id.Public(), Peer: id.PeerID()}
}

func encode(t testing.TB, created time.Time, c alert.Content) []byte {
	t.Helper()
	b, err := alert.Encode(created, c)
	if err != nil {
		t.Fatalf("Encode(%T): %v", c, err)
	}
	return b
}
