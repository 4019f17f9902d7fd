package crypto_test

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/takecare-network/takecare/alert"
	"github.com/takecare-network/takecare/crypto"
)

// wantSize is the smallest envelope size that fits a body of n bytes, or 0.
func wantSize(n int) int {
	for _, s := range crypto.EnvelopeSizes {
		if innerHeader+n+envOverhead <= s {
			return s
		}
	}
	return 0
}

func TestEnvelopeSizes(t *testing.T) {
	t.Parallel()
	want := []int{2048, 8192, 32768, 131072, 524288}
	if len(crypto.EnvelopeSizes) != len(want) {
		t.Fatalf("EnvelopeSizes = %v, want %v", crypto.EnvelopeSizes, want)
	}
	for i, s := range crypto.EnvelopeSizes {
		if s != want[i] {
			t.Fatalf("EnvelopeSizes = %v, want %v", crypto.EnvelopeSizes, want)
		}
	}
	if crypto.MaxEnvelopeSize != want[len(want)-1] {
		t.Errorf("MaxEnvelopeSize = %d, want %d", crypto.MaxEnvelopeSize, want[len(want)-1])
	}
	if got, want := crypto.MaxInnerSize, crypto.MaxEnvelopeSize-envOverhead; got != want {
		t.Errorf("MaxInnerSize = %d, want %d", got, want)
	}
}

func TestPaddedSize(t *testing.T) {
	t.Parallel()
	tests := []struct {
		inner int
		want  int
	}{
		{0, 2048},
		{1, 2048},
		{2048 - envOverhead, 2048},
		{2048 - envOverhead + 1, 8192},
		{8192 - envOverhead, 8192},
		{8192 - envOverhead + 1, 32768},
		{32768 - envOverhead + 1, 131072},
		{131072 - envOverhead + 1, 524288},
		{crypto.MaxInnerSize, 524288},
		{crypto.MaxInnerSize + 1, 0},
		{1 << 30, 0},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.inner), func(t *testing.T) {
			t.Parallel()
			got, err := crypto.PaddedSize(tt.inner)
			if tt.want == 0 {
				if err == nil {
					t.Fatalf("PaddedSize(%d) = %d, want an error", tt.inner, got)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("PaddedSize(%d) = %d, %v; want %d", tt.inner, got, err, tt.want)
			}
		})
	}
}

func TestEnvelopeRoundTrip(t *testing.T) {
	t.Parallel()
	maxBody := crypto.MaxInnerSize - innerHeader
	sizes := []int{
		1, 17, 200,
		2048 - envOverhead - innerHeader,     // fills the smallest envelope
		2048 - envOverhead - innerHeader + 1, // one byte too many for it
		5000,
		8192 - envOverhead - innerHeader,
		8192 - envOverhead - innerHeader + 1,
		100_000,
		131072 - envOverhead - innerHeader + 1,
		maxBody,
	}
	id := newIdentity(t, "ana")
	k := randomKeys()
	for _, n := range sizes {
		t.Run(fmt.Sprintf("body=%d", n), func(t *testing.T) {
			t.Parallel()
			in := id.SignBody(k.Group(), k.Epoch(), body(n))
			env, err := k.Seal(in)
			if err != nil {
				t.Fatalf("Seal: %v", err)
			}
			if want := wantSize(n); len(env) != want {
				t.Fatalf("envelope is %d bytes, want %d (smallest that fits)", len(env), want)
			}
			if env[0] != crypto.EnvelopeVersion {
				t.Errorf("version byte = %d, want %d", env[0], crypto.EnvelopeVersion)
			}
			tag, err := crypto.EnvelopeTag(env)
			if err != nil || tag != k.Tag() {
				t.Fatalf("EnvelopeTag = %v, %v; want %v", tag, err, k.Tag())
			}
			got, err := k.Open(env)
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			if got.Author != in.Author || got.Sig != in.Sig || !bytes.Equal(got.Body, in.Body) {
				t.Fatal("Open returned another message than was sealed")
			}
			if err := got.Verify(id.Public(), k.Group(), k.Epoch()); err != nil {
				t.Fatalf("Verify after Open: %v", err)
			}
		})
	}
}

func TestEnvelopeTooLarge(t *testing.T) {
	t.Parallel()
	id := newIdentity(t, "ana")
	k := randomKeys()
	in := id.SignBody(k.Group(), k.Epoch(), body(crypto.MaxInnerSize-innerHeader+1))
	env, err := k.Seal(in)
	if err == nil {
		t.Fatalf("Seal of a %d-byte inner message made a %d-byte envelope, want an error", len(in.Marshal()), len(env))
	}
}

func TestEnvelopeFreshNonce(t *testing.T) {
	t.Parallel()
	id := newIdentity(t, "ana")
	k := randomKeys()
	in := id.SignBody(k.Group(), k.Epoch(), []byte("same message"))
	a, err := k.Seal(in)
	if err != nil {
		t.Fatal(err)
	}
	b, err := k.Seal(in)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(a[9:33], b[9:33]) {
		t.Fatal("two seals of one message used the same nonce")
	}
	if bytes.Equal(a[33:], b[33:]) {
		t.Fatal("two seals of one message produced the same ciphertext")
	}
}

// TestEnvelopeTamper flips one bit at a time across the whole envelope:
// version, key tag, nonce, ciphertext (including the padding) and the
// Poly1305 tag. Every flip must make Open fail, with the error of the part
// that was hit.
func TestEnvelopeTamper(t *testing.T) {
	t.Parallel()
	id := newIdentity(t, "ana")
	k := randomKeys()
	for _, n := range []int{10, 3000} { // a 2048- and an 8192-byte envelope
		env, err := k.Seal(id.SignBody(k.Group(), k.Epoch(), body(n)))
		if err != nil {
			t.Fatal(err)
		}
		t.Run(fmt.Sprintf("size=%d", len(env)), func(t *testing.T) {
			t.Parallel()
			positions := map[int]bool{}
			for i := 0; i < 33+8; i++ { // every header byte and a few more
				positions[i] = true
			}
			for i := len(env) - 24; i < len(env); i++ { // the Poly1305 tag and before
				positions[i] = true
			}
			for i := 0; i < len(env); i += 13 {
				positions[i] = true
			}
			for pos := range positions {
				bad := bytes.Clone(env)
				bad[pos] ^= 1 << (pos % 8)
				_, err := k.Open(bad)
				var want error
				switch {
				case pos == 0:
					want = crypto.ErrEnvelopeVersion
				case pos < 9:
					want = crypto.ErrWrongKey
				default:
					want = crypto.ErrDecrypt
				}
				if !errors.Is(err, want) {
					t.Fatalf("bit flip at byte %d: Open error = %v, want %v", pos, err, want)
				}
			}
		})
	}
}

func TestEnvelopeWrongKeys(t *testing.T) {
	t.Parallel()
	id := newIdentity(t, "ana")
	secret := crypto.NewEpochSecret()
	group := crypto.NewGroupID()
	k := crypto.NewEpochKeys(group, 3, secret)
	env, err := k.Seal(id.SignBody(group, 3, []byte("hola")))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		keys *crypto.EpochKeys
	}{
		{"other group", crypto.NewEpochKeys(crypto.NewGroupID(), 3, secret)},
		{"next epoch", crypto.NewEpochKeys(group, 4, secret)},
		{"previous epoch", crypto.NewEpochKeys(group, 2, secret)},
		{"other secret", crypto.NewEpochKeys(group, 3, crypto.NewEpochSecret())},
		{"all different", randomKeys()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := tt.keys.Open(env)
			if !errors.Is(err, crypto.ErrWrongKey) && !errors.Is(err, crypto.ErrDecrypt) {
				t.Fatalf("Open with %s: error = %v, want ErrWrongKey or ErrDecrypt", tt.name, err)
			}
		})
	}
	if _, err := k.Open(env); err != nil {
		t.Fatalf("Open with the right keys: %v", err)
	}
}

func TestEnvelopeBadSizeAndVersion(t *testing.T) {
	t.Parallel()
	id := newIdentity(t, "ana")
	k := randomKeys()
	env, err := k.Seal(id.SignBody(k.Group(), k.Epoch(), []byte("hola")))
	if err != nil {
		t.Fatal(err)
	}
	version2 := bytes.Clone(env)
	version2[0] = 2
	version0 := bytes.Clone(env)
	version0[0] = 0
	tests := []struct {
		name string
		env  []byte
		want error
	}{
		{"empty", nil, crypto.ErrEnvelopeSize},
		{"one byte", []byte{1}, crypto.ErrEnvelopeSize},
		{"truncated by one", env[:len(env)-1], crypto.ErrEnvelopeSize},
		{"one byte appended", append(bytes.Clone(env), 0), crypto.ErrEnvelopeSize},
		{"header only", env[:33], crypto.ErrEnvelopeSize},
		{"between sizes", make([]byte, 4096), crypto.ErrEnvelopeSize},
		{"version 2", version2, crypto.ErrEnvelopeVersion},
		{"version 0", version0, crypto.ErrEnvelopeVersion},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if _, err := crypto.EnvelopeTag(tt.env); !errors.Is(err, tt.want) {
				t.Errorf("EnvelopeTag: error = %v, want %v", err, tt.want)
			}
			if _, err := k.Open(tt.env); !errors.Is(err, tt.want) {
				t.Errorf("Open: error = %v, want %v", err, tt.want)
			}
		})
	}
}

// TestEnvelopePaddingHidesKind checks invariant 1's padding: an
// acknowledgement, a panic, a long danger alert and a check-in, all real
// bodies, travel in envelopes of the same size. It also checks the promise
// of [crypto.EnvelopeSizes] that the largest valid alert and check-in fit
// the smallest envelope.
func TestEnvelopePaddingHidesKind(t *testing.T) {
	t.Parallel()
	id := newIdentity(t, "ana")
	k := randomKeys()
	now := time.UnixMilli(1_750_000_000_000)
	longest := strings.Repeat("ñ", alert.MaxText/2) // 2 bytes each
	bodies := map[string]alert.Content{
		"ack":   &alert.Ack{Ref: alert.ID{1}, Status: alert.AckSeen},
		"panic": &alert.Alert{Kind: alert.KindPanic, Severity: alert.SevCritical, Expires: now.Add(time.Hour)},
		"longest alert": &alert.Alert{
			Kind: alert.KindDisappearance, Severity: alert.SevCritical,
			Region: strings.Repeat("r", alert.MaxRegion), Place: strings.Repeat("p", alert.MaxPlace),
			Text: longest, Expires: now.Add(alert.MaxTTL),
		},
		"longest overdue": &alert.Alert{
			Kind: alert.KindOverdue, Severity: alert.SevCritical,
			Region: strings.Repeat("r", alert.MaxRegion), Place: strings.Repeat("p", alert.MaxPlace),
			Text: longest, Expires: now.Add(alert.MaxTTL), CheckIn: alert.ID{9}, Level: 2,
		},
		"longest check-in": &alert.CheckIn{
			From: strings.Repeat("f", alert.MaxPlace), To: strings.Repeat("t", alert.MaxPlace),
			Due: now.Add(alert.MaxCheckInAhead), Grace: alert.MaxGrace, EscalateAfter: alert.MaxEscalateAfter,
			EscalateGroup: crypto.NewGroupID(), Text: longest,
		},
		"check-in done": &alert.CheckInDone{CheckIn: alert.ID{3}, Duress: true},
	}
	sizes := map[int][]string{}
	for name, c := range bodies {
		b, err := alert.Encode(now, c)
		if err != nil {
			t.Fatalf("%s: Encode: %v", name, err)
		}
		env, err := k.Seal(id.SignBody(k.Group(), k.Epoch(), b))
		if err != nil {
			t.Fatalf("%s: Seal: %v", name, err)
		}
		sizes[len(env)] = append(sizes[len(env)], name)
	}
	if len(sizes) != 1 || sizes[crypto.EnvelopeSizes[0]] == nil {
		t.Fatalf("envelope sizes by kind: %v; want all %d", sizes, crypto.EnvelopeSizes[0])
	}
}
