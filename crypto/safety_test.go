package crypto_test

import (
	"regexp"
	"testing"

	"github.com/takecare-network/takecare/crypto"
)

func TestSafetyNumber(t *testing.T) {
	t.Parallel()
	ana := newIdentity(t, "ana").Public()
	beto := newIdentity(t, "beto").Public()
	carla := newIdentity(t, "carla").Public()
	format := regexp.MustCompile(`^[0-9]{5}( [0-9]{5}){5}$`)

	ab, ba := crypto.SafetyNumber(ana, beto), crypto.SafetyNumber(beto, ana)
	if ab != ba {
		t.Fatalf("not symmetric: %q vs %q", ab, ba)
	}
	if !format.MatchString(ab) {
		t.Fatalf("%q is not six groups of five digits", ab)
	}
	if again := crypto.SafetyNumber(ana, beto); again != ab {
		t.Fatal("not deterministic")
	}
	pairs := map[string]string{
		"ana-beto":   ab,
		"ana-carla":  crypto.SafetyNumber(ana, carla),
		"beto-carla": crypto.SafetyNumber(carla, beto),
		"ana-ana":    crypto.SafetyNumber(ana, ana),
	}
	seen := map[string]string{}
	for pair, n := range pairs {
		if !format.MatchString(n) {
			t.Errorf("%s: %q is not six groups of five digits", pair, n)
		}
		if prev, dup := seen[n]; dup {
			t.Errorf("%s and %s have the same safety number", pair, prev)
		}
		seen[n] = pair
	}
}
