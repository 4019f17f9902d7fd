package main

import (
	"slices"
	"testing"

	ma "github.com/multiformats/go-multiaddr"
	manet "github.com/multiformats/go-multiaddr/net"
)

// TestLabPublicNets: the lab's variable makes the documentation networks
// count as public for go-libp2p, and nothing else can be changed with it.
func TestLabPublicNets(t *testing.T) {
	saved := slices.Clone(manet.Unroutable4)
	t.Cleanup(func() { manet.Unroutable4 = saved })
	doc := ma.StringCast("/ip4/203.0.113.10/tcp/4001")
	if manet.IsPublicAddr(doc) {
		t.Fatal("go-libp2p already counts documentation addresses as public")
	}
	env := func(v string) func(string) string {
		return func(k string) string {
			if k == labPublicNetsEnv {
				return v
			}
			return ""
		}
	}
	if err := applyLabPublicNets(env("")); err != nil || !slices.Equal(manet.Unroutable4, saved) {
		t.Fatalf("without the variable: %v, list changed: %v", err, !slices.Equal(manet.Unroutable4, saved))
	}
	for _, bad := range []string{"10.0.0.0/8", "8.8.8.0/24", "nonsense"} {
		if err := applyLabPublicNets(env(bad)); err == nil {
			t.Errorf("%s accepted", bad)
		}
	}
	if err := applyLabPublicNets(env("198.51.100.0/24, 203.0.113.0/24")); err != nil {
		t.Fatal(err)
	}
	if !manet.IsPublicAddr(doc) || !manet.IsPublicAddr(ma.StringCast("/ip4/198.51.100.10/udp/1/quic-v1")) {
		t.Fatal("documentation addresses still not public")
	}
	if manet.IsPublicAddr(ma.StringCast("/ip4/192.0.2.1/tcp/1")) {
		t.Fatal("another documentation network became public")
	}
}
