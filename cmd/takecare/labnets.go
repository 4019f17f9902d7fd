package main

import (
	"fmt"
	"net"
	"slices"
	"strings"

	manet "github.com/multiformats/go-multiaddr/net"
)

// labPublicNetsEnv names networks that go-libp2p counts as unroutable
// (documentation ranges, RFC 5737) but that this daemon is to treat as
// the public internet. Only the NAT laboratory sets it
// (node/nodetest/natlab): its internet uses 198.51.100.0/24 and
// 203.0.113.0/24, which never route anywhere, and without this go-libp2p
// would never see a public address there, so it would not hole punch or
// relay as it does on the real internet.
const labPublicNetsEnv = "TAKECARE_LAB_PUBLIC_NETS"

// applyLabPublicNets takes the networks of labPublicNetsEnv out of
// go-libp2p's unroutable list for this process. A network that is not in
// that list is an error: the variable can only make documentation and
// other reserved ranges count as public, never change anything else.
func applyLabPublicNets(getenv func(string) string) error {
	v := strings.TrimSpace(getenv(labPublicNetsEnv))
	if v == "" {
		return nil
	}
	for _, s := range strings.Split(v, ",") {
		_, want, err := net.ParseCIDR(strings.TrimSpace(s))
		if err != nil {
			return fmt.Errorf("%s: %v", labPublicNetsEnv, err)
		}
		i := slices.IndexFunc(manet.Unroutable4, func(n *net.IPNet) bool { return n.String() == want.String() })
		if i < 0 {
			return fmt.Errorf("%s: %s is not a reserved network", labPublicNetsEnv, want)
		}
		manet.Unroutable4 = slices.Delete(slices.Clone(manet.Unroutable4), i, i+1)
	}
	return nil
}
