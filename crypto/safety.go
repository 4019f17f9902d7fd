package crypto

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"strings"
)

// SafetyNumber returns the number two members compare in person to be sure
// each holds the other's real keys: 30 decimal digits in six groups of five,
// the same on both sides whichever order the keys are given in. PROTOCOL.md,
// "Safety numbers".
func SafetyNumber(a, b MemberKeys) string {
	ia, ib := a.ID(), b.ID()
	if bytes.Compare(ia[:], ib[:]) > 0 {
		ia, ib = ib, ia
	}
	h := sha256.New()
	h.Write([]byte("takecare/v1/safety\x00"))
	h.Write(ia[:])
	h.Write(ib[:])
	sum := h.Sum(nil)
	groups := make([]string, 6)
	for i := range groups {
		// 5 bytes per group, reduced mod 100000 (bias below 1e-6).
		v := binary.BigEndian.Uint64(append([]byte{0, 0, 0}, sum[i*5:i*5+5]...))
		groups[i] = fmt.Sprintf("%05d", v%100000)
	}
	return strings.Join(groups, " ")
}
