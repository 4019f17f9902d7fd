package alert_test

import (
	"testing"
	"time"

	"github.com/takecare-network/takecare/alert"
	"github.com/takecare-network/takecare/crypto"
)

// benchAlert is an alert with the fields a watcher typically fills in.
func benchAlert() *alert.Alert {
	return &alert.Alert{
		Kind: alert.KindDanger, Severity: alert.SevUrgent, Region: "Istmo de Tehuantepec", Place: "Juchitán, crossroads by the market",
		Text:    "Armed men stopping cars at the crossroads; avoid the road to Ixtepec until further notice.",
		Expires: t0.Add(6 * time.Hour),
	}
}

func BenchmarkEncode(b *testing.B) {
	a := benchAlert()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := alert.Encode(t0, a); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecode(b *testing.B) {
	body := encode(b, t0, benchAlert())
	g, author := crypto.NewGroupID(), newIdentity(b, "a").ID()
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := alert.Decode(g, 1, author, body); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDecodeValidate is what the pipeline does with every body.
func BenchmarkDecodeValidate(b *testing.B) {
	body := encode(b, t0, benchAlert())
	g, author := crypto.NewGroupID(), newIdentity(b, "a").ID()
	now := t0.Add(time.Minute)
	b.ReportAllocs()
	for b.Loop() {
		m, err := alert.Decode(g, 1, author, body)
		if err != nil {
			b.Fatal(err)
		}
		if err := m.Validate(now); err != nil {
			b.Fatal(err)
		}
	}
}
