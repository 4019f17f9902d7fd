package smsbridge_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/takecare-network/takecare/alert"
	"github.com/takecare-network/takecare/crypto"
	"github.com/takecare-network/takecare/node"
	"github.com/takecare-network/takecare/node/nodetest"
	"github.com/takecare-network/takecare/node/smsbridge"
)

func TestParse(t *testing.T) {
	t.Parallel()
	at := func(c smsbridge.Command) string {
		return fmt.Sprintf("%d|%v|%s|%s|%s|%s|%s|%v", c.Verb, c.Spanish, c.Code, c.Text, c.From, c.To, c.Ref+c.Status, c.In)
	}
	for in, want := range map[string]string{
		"PÁNICO 123456":                 "2|true|123456|||||0s",
		"panico hombres armados 123456": "2|true|123456|hombres armados||||0s",
		"123456 SOS":                    "2|true|123456|||||0s",
		"Panic 4821":                    "2|false|4821|||||0s",
		"SALGO Ixtepec 18:00 123456":    "3|true|123456|||Ixtepec||0s",
		"salgo de Juchitán a Santo Domingo Ixtepec a las 6pm 123456": "3|true|123456||Juchitán|Santo Domingo Ixtepec||0s",
		"LEAVING to Ixtepec in 2h 123456":                            "3|false|123456|||Ixtepec||2h0m0s",
		"Salgo a Ixtepec 1h30 123456":                                "3|true|123456|||Ixtepec||1h30m0s",
		"LLEGUÉ 123456":                                              "4|true|123456|||||0s",
		"ya llegue 123456":                                           "4|true|123456|||||0s",
		"arrived 123456":                                             "4|false|123456|||||0s",
		"VISTO 123456":                                               "5|true|123456||||seen|0s",
		"voy a1b2c3d4 123456":                                        "5|true|123456||||a1b2c3d4responding|0s",
		"No puedo 123456":                                            "5|true|123456||||unable|0s",
		"AYUDA":                                                      "1|true||||||0s",
	} {
		c, err := smsbridge.Parse(in)
		if err != nil {
			t.Errorf("%q: %v", in, err)
			continue
		}
		if got := at(c); got != want {
			t.Errorf("%q: %s, want %s", in, got, want)
		}
	}
	for in, want := range map[string]error{
		"":                     smsbridge.ErrNoCommand,
		"hola 123456":          smsbridge.ErrNoCommand,
		"PANICO":               smsbridge.ErrNoCode,
		"LLEGUE 12":            smsbridge.ErrNoCode,
		"SALGO 123456":         smsbridge.ErrNoTime,
		"SALGO Ixtepec 123456": smsbridge.ErrNoTime,
		"SALGO 18:00 123456":   smsbridge.ErrNoTime,
		"SALGO a 25:00 123456": smsbridge.ErrNoTime,
	} {
		if _, err := smsbridge.Parse(in); err != want {
			t.Errorf("%q: %v, want %v", in, err, want)
		}
	}
}

func TestNormalizeNumber(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"+52 1 951 123 4567": "+529511234567", "+52 (951) 123-4567": "+529511234567", "+5215559998888": "+525559998888",
		"+34 600 000 000": "+34600000000", "5551234": "5551234",
	} {
		if got, err := smsbridge.NormalizeNumber(in); err != nil || got != want {
			t.Errorf("%q: %q %v, want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "12", "+52 951 abc", "52+951", strings.Repeat("1", 16)} {
		if _, err := smsbridge.NormalizeNumber(bad); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

// memBackend keeps what the bridge sends.
type memBackend struct {
	mu   sync.Mutex
	sent map[string][]string
}

func (m *memBackend) Send(_ context.Context, number, text string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.sent == nil {
		m.sent = map[string][]string{}
	}
	m.sent[number] = append(m.sent[number], text)
	return nil
}

func (m *memBackend) Receive(ctx context.Context, _ func(smsbridge.Incoming)) error {
	<-ctx.Done()
	return nil
}

func (m *memBackend) to(number string) []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]string(nil), m.sent[number]...)
}

type pinRig struct {
	nt          *nodetest.Net
	gid         crypto.GroupID
	ana, beto   *nodetest.Node
	carmen      *nodetest.Node // nil unless asked for
	br          *smsbridge.Bridge
	mem         *memBackend
	pin, duress string
}

// newPinRig enrols the first node's member on the second node's bridge
// with a PIN.
func newPinRig(t *testing.T, nodes ...int) *pinRig {
	n := 2
	if len(nodes) > 0 {
		n = nodes[0]
	}
	nt := nodetest.New(t, n, nodetest.Options{})
	r := &pinRig{nt: nt, gid: nt.Group("juchitan"), ana: nt.Nodes[0], beto: nt.Nodes[1], mem: &memBackend{}}
	if n > 2 {
		r.carmen = nt.Nodes[2]
	}
	var err error
	if r.br, err = smsbridge.New(smsbridge.Config{Node: r.beto.Node, Store: r.beto.Store, Backend: r.mem}); err != nil {
		t.Fatal(err)
	}
	grant, err := r.ana.Grant(r.gid, r.beto.Identity.ID(), time.Now().Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	enr, err := r.br.Enrol(r.gid, r.ana.Identity.ID(), grant, "+529511234567", "pin")
	if err != nil {
		t.Fatal(err)
	}
	r.pin, r.duress = enr.Secret, enr.Duress
	if len(r.pin) != 6 || r.pin == r.duress {
		t.Fatalf("codes %q %q", r.pin, r.duress)
	}
	return r
}

func (r *pinRig) sms(key, text string) {
	// The network's time of sending, as a spool file name gives it: the
	// same for a copy of the same SMS.
	sent := time.Date(2026, 11, 30, 12, 0, len(key), 0, time.UTC)
	r.br.Handle(context.Background(), smsbridge.Incoming{From: "+5219511234567", Text: text, Key: key, Sent: sent})
}

func kinds(n *nodetest.Node, gid crypto.GroupID) map[string]int {
	f, _ := n.Feed(node.FeedQuery{Group: gid})
	out := map[string]int{}
	for _, e := range f {
		out[e.Kind]++
	}
	return out
}

// The duress PIN does what was asked, answers as usual, and warns the
// group; an arrival with it is an arrival under duress, which the member's
// own node shows as a normal one.
func TestDuressBySMS(t *testing.T) {
	t.Parallel()
	r := newPinRig(t, 3)
	ctx := context.Background()
	if _, err := r.ana.StartCheckIn(ctx, r.gid, node.CheckInRequest{To: "Ixtepec", Due: time.Now().Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	r.nt.WaitFor(30*time.Second, "the check-in at the bridge", func() bool { cs, _ := r.beto.CheckIns(r.gid); return len(cs) == 1 })
	r.sms("k1", "LLEGUÉ "+r.duress)
	r.nt.WaitFor(30*time.Second, "the duress arrival", func() bool { return kinds(r.carmen, r.gid)["duress"] == 1 })
	r.nt.WaitFor(30*time.Second, "the arrival at Ana's node", func() bool { return kinds(r.ana, r.gid)["arrived"] == 1 })
	if k := kinds(r.ana, r.gid); k["duress"] != 0 {
		t.Fatalf("Ana's own node shows the duress: %v", k)
	}
	r.sms("k2", "PANICO "+r.duress)
	for _, n := range []*nodetest.Node{r.beto, r.carmen} {
		r.nt.WaitFor(30*time.Second, "the panic and the warning at "+n.Identity.Name(), func() bool {
			k := kinds(n, r.gid)
			return k["panic"] == 1 && k["duress"] == 2
		})
	}
	// Ana's own node holds the warning but does not show it.
	r.nt.WaitFor(30*time.Second, "the panic at Ana's node", func() bool { return kinds(r.ana, r.gid)["panic"] == 1 })
	r.nt.WaitFor(30*time.Second, "Ana's node to hold everything Beto's does", func() bool { return r.ana.Store.Count() >= r.beto.Store.Count() })
	if k := kinds(r.ana, r.gid); k["duress"] != 0 {
		t.Fatalf("Ana's own node shows a duress warning: %v", k)
	}
	answers := r.mem.to("+529511234567")
	if len(answers) != 2 || !strings.Contains(answers[0], "llegada avisada") || !strings.Contains(answers[1], "PANICO enviado") {
		t.Fatalf("answers %q", answers)
	}
}

// A PIN-mode SMS is taken once: the same SMS again is a replay, while
// another SMS with the same PIN is taken.
func TestPINReplay(t *testing.T) {
	t.Parallel()
	r := newPinRig(t)
	r.sms("k1", "PANICO "+r.pin)
	r.sms("k1", "PANICO "+r.pin)
	if s := r.br.Stats(); s.Accepted != 1 || s.Replayed != 1 {
		t.Fatalf("stats %+v", s)
	}
	r.sms("k22", "PANICO "+r.pin)
	if s := r.br.Stats(); s.Accepted != 2 {
		t.Fatalf("stats %+v", s)
	}
}

// Five wrong codes lock the number out, the right code included, for an
// hour; and a number cannot send more than a few SMS at once.
func TestLockoutAndRate(t *testing.T) {
	t.Parallel()
	r := newPinRig(t)
	wrong := "000000"
	if wrong == r.pin || wrong == r.duress {
		wrong = "999999"
	}
	for i := range 5 {
		r.sms(fmt.Sprint("w", i), "PANICO "+wrong)
	}
	r.sms("k2", "PANICO "+r.pin)
	if s := r.br.Stats(); s.Accepted != 0 || s.BadCode != 6 {
		t.Fatalf("stats after the lockout %+v", s)
	}
	r.sms("k3", "PANICO "+r.pin)
	if s := r.br.Stats(); s.RateLimited != 1 {
		t.Fatalf("stats after the burst %+v", s)
	}
	if got := len(r.mem.to("+529511234567")); got != 5 {
		t.Fatalf("%d answers: the wrong codes are answered, the locked-out and limited SMS are not", got)
	}
}

// Only an admin sets safe lines, and the SMS they get say no more than the
// group chose.
func TestSafeLinesContent(t *testing.T) {
	t.Parallel()
	r := newPinRig(t)
	if _, err := r.br.SetLines(r.gid, []string{"+525550001111"}, "full", "en"); err == nil {
		t.Fatal("a member who is not an admin set safe lines")
	}
	e := node.Entry{ID: strings.Repeat("ab", 32), Kind: "panic", Severity: "critical", Author: "Ana", Place: "Juchitán",
		Text: "armed men", Created: time.Date(2026, 11, 30, 14, 5, 0, 0, time.UTC)}
	for content, want := range map[string]string{
		smsbridge.ContentNone:  "takecare: urgent alert in your group. Open the app.",
		smsbridge.ContentShort: "takecare PANIC, Juchitán, 14:05",
		smsbridge.ContentFull:  "takecare PANIC, Ana, Juchitán, 14:05: armed men",
	} {
		if got := smsbridge.Compose(e, content, "en", time.UTC); got != want {
			t.Errorf("%s: %q, want %q", content, got, want)
		}
	}
	_ = alert.KindPanic
}
