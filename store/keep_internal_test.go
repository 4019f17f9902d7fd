package store

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/takecare-network/takecare/crypto"
)

// TestKeepFileVersion1StillReads: a keep file written before changes were
// added at its end (magic "takecare-keep v1", the generation frame first,
// then every blob) still repairs a lost store file with every blob, and
// the next change writes it again in the current version, which repairs
// as well.
func TestKeepFileVersion1StillReads(t *testing.T) {
	path := filepath.Join(t.TempDir(), "store.db")
	key := crypto.NewStorageKey()
	opts := Options{NoSync: true}
	s, err := Open(path, key, opts)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"ana": "roster of ana", "beto": "roster of beto", "carla": "roster of carla"}
	for k, v := range want {
		if err := s.PutBlob("group", []byte(k), []byte(v)); err != nil {
			t.Fatal(err)
		}
	}
	st, err := s.blobs()
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	// The keep file as version 1 wrote it.
	var b bytes.Buffer
	b.WriteString(keepMagicV1)
	writeFrames(&b, append([]keepRecord{{metaGen, sealGen(crypto.NewAtRest(key), st.gen)}}, st.recs...))
	if err := os.WriteFile(keepPath(path), b.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	check := func(want map[string]string) {
		t.Helper()
		if err := os.Remove(path); err != nil {
			t.Fatal(err)
		}
		if _, err := Repair(path, key, opts); err != nil {
			t.Fatal(err)
		}
		s, err := Open(path, key, opts)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		got, err := s.Blobs("group")
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != len(want) {
			t.Fatalf("repaired %d blobs, want %d", len(got), len(want))
		}
		for k, v := range want {
			if string(got[k]) != v {
				t.Fatalf("blob %q repaired as %q, want %q", k, got[k], v)
			}
		}
	}
	check(want)
	s, err = Open(path, key, opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.PutBlob("group", []byte("dora"), []byte("roster of dora")); err != nil {
		t.Fatal(err)
	}
	s.Close()
	if kept, _ := os.ReadFile(keepPath(path)); !bytes.HasPrefix(kept, []byte(keepMagic)) {
		t.Fatalf("the keep file begins %q after a change, want %q", kept[:min(len(kept), len(keepMagic))], keepMagic)
	}
	want["dora"] = "roster of dora"
	check(want)
}
