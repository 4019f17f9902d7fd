package node

import (
	"errors"
	"fmt"
	"regexp"
	"testing"

	"github.com/takecare-network/takecare/alert"
	"github.com/takecare-network/takecare/crypto"
	"github.com/takecare-network/takecare/node/internal/checkin"
	"github.com/takecare-network/takecare/store"
)

// TestReferencesAmbiguousAlike: whatever kind a reference names, one that
// names several is ErrAmbiguous with the same wording and parameters,
// listing every candidate; one that names nothing is the kind's sentinel;
// a prefix shorter than the kind's minimum names nothing.
func TestReferencesAmbiguousAlike(t *testing.T) {
	t.Parallel()
	id := func(b ...byte) alert.ID { var x alert.ID; copy(x[:], b); return x }
	ana1, ana2 := member(t, "Ana"), member(t, "ana ") // the same name, as names compare
	for _, tt := range []struct {
		what     string
		run      func(ref string) error
		ref      string // names two
		byName   bool
		short    string // a prefix too short to name anything
		notFound error
	}{
		{"member", func(ref string) error {
			_, err := memberRefs.one([]alert.Member{ana1, ana2, member(t, "Beto")}, ref, "istmo")
			return err
		}, "ANA", true, ana1.ID().String()[:3], ErrNoSuchMember},
		{"checkin", func(ref string) error {
			_, err := checkInRefs.one([]checkin.Tracked{{ID: id(0xab, 0xcd, 0xef, 1)}, {ID: id(0xab, 0xcd, 0xef, 2)}}, ref, "")
			return err
		}, "abcdef", false, "abcde", ErrNoSuchCheckIn},
		{"message", func(ref string) error {
			_, err := messageRefs.one([]store.Header{{ID: id(0xab, 0xcd, 0xef, 1)}, {ID: id(0xab, 0xcd, 0xef, 2)}}, ref, "")
			return err
		}, "abcdef", false, "abcde", ErrNoSuchMessage},
		{"invite", func(ref string) error {
			inv := func(b byte) alert.InviteState {
				return alert.InviteState{NewInvite: alert.NewInvite{ID: crypto.InviteID{0x12, 0x34, b}}}
			}
			_, err := inviteRefs.one([]alert.InviteState{inv(1), inv(2), {NewInvite: alert.NewInvite{ID: crypto.InviteID{0x99}}}}, ref, "istmo")
			return err
		}, "1234", false, "123", ErrNoSuchInvite},
	} {
		t.Run(tt.what, func(t *testing.T) {
			err := tt.run(tt.ref)
			if !errors.Is(err, ErrAmbiguous) {
				t.Fatalf("%q: %v, want ambiguous", tt.ref, err)
			}
			hint := "give more of the id"
			if tt.byName {
				hint = "give a prefix of the id instead"
			}
			word := map[string]string{"checkin": "check-in"}[tt.what]
			if word == "" {
				word = tt.what
			}
			want := regexp.MustCompile(fmt.Sprintf(`^%s %q is ambiguous: [^,]+, [^,]+; %s$`, word, tt.ref, hint))
			if !want.MatchString(err.Error()) {
				t.Errorf("%q: %q, want it to match %s", tt.ref, err, want)
			}
			var pe *paramError
			if !errors.As(err, &pe) || pe.params["what"] != tt.what || pe.params["ref"] != tt.ref || pe.params["candidates"] == "" {
				t.Errorf("%q: parameters %v", tt.ref, pe)
			}
			if err := tt.run(tt.short); !errors.Is(err, tt.notFound) {
				t.Errorf("%q (too short): %v, want %v", tt.short, err, tt.notFound)
			}
			if err := tt.run("ffffffff"); !errors.Is(err, tt.notFound) {
				t.Errorf("ffffffff: %v, want %v", err, tt.notFound)
			}
		})
	}
}

func member(t *testing.T, name string) alert.Member {
	t.Helper()
	id, err := crypto.NewIdentity(name)
	if err != nil {
		t.Fatal(err)
	}
	return alert.Member{MemberInfo: alert.MemberInfo{Name: name, Keys: id.Public()}}
}
