package smsbridge_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"github.com/takecare-network/takecare/alert"
	"github.com/takecare-network/takecare/crypto"
	"github.com/takecare-network/takecare/node"
	"github.com/takecare-network/takecare/node/nodetest"
	"github.com/takecare-network/takecare/node/smsbridge"
)

// gammuRig is a real gammu-smsd on gammu's dummy phone driver: a folder
// plays the phone. An SMS saved in the phone's inbox folder with `gammu
// savesms` is received by gammu-smsd and written to its inbox folder,
// where the bridge reads it; what the bridge writes to the outbox folder,
// gammu-smsd "sends" and moves to the sent folder.
type gammuRig struct {
	dir, phoneCfg string
	inbox, outbox string
	sent          string
}

func startGammu(t *testing.T) *gammuRig {
	t.Helper()
	for _, bin := range []string{"gammu-smsd", "gammu"} {
		if _, err := exec.LookPath(bin); err != nil {
			t.Skipf("%s is not installed (Debian: apt-get install gammu-smsd gammu; .ci/run installs it): the gammu bridge test is skipped", bin)
		}
	}
	dir, err := os.MkdirTemp("", "tcsms")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	r := &gammuRig{dir: dir, inbox: filepath.Join(dir, "inbox"), outbox: filepath.Join(dir, "outbox"), sent: filepath.Join(dir, "sent")}
	for _, d := range []string{"phone", "inbox", "outbox", "sent", "error"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	phone := "[gammu]\ndevice = " + filepath.Join(dir, "phone") + "/\nconnection = none\nmodel = dummy\n"
	r.phoneCfg = filepath.Join(dir, "gammurc")
	smsd := phone + fmt.Sprintf(`
[smsd]
service = files
inboxpath = %s/
outboxpath = %s/
sentsmspath = %s/
errorsmspath = %s/
inboxformat = unicode
outboxformat = unicode
transmitformat = auto
logfile = %s
debuglevel = 0
commtimeout = 1
sendtimeout = 5
receivefrequency = 1
statusfrequency = 0
loopsleep = 1
checksecurity = 0
checkbattery = 0
checksignal = 0
hangupcalls = 0
resetfrequency = 0
`, r.inbox, r.outbox, r.sent, filepath.Join(dir, "error"), filepath.Join(dir, "smsd.log"))
	if err := os.WriteFile(r.phoneCfg, []byte(phone), 0o600); err != nil {
		t.Fatal(err)
	}
	smsdCfg := filepath.Join(dir, "smsdrc")
	if err := os.WriteFile(smsdCfg, []byte(smsd), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, "gammu-smsd", "-c", smsdCfg)
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		cancel()
		t.Skipf("gammu-smsd does not start: %v", err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	// Ready once it talks to the (dummy) phone.
	logPath := filepath.Join(dir, "smsd.log")
	for deadline := time.Now().Add(30 * time.Second); ; {
		if b, _ := os.ReadFile(logPath); strings.Contains(string(b), "Starting phone communication") {
			break
		}
		select {
		case <-exited:
			cancel()
			b, _ := os.ReadFile(logPath)
			t.Fatalf("gammu-smsd stopped: %s\n%s", out.String(), b)
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			cancel()
			t.Fatal("gammu-smsd did not start talking to the phone in 30 s")
		}
	}
	t.Cleanup(func() {
		cancel()
		<-exited
		if t.Failed() {
			log, _ := os.ReadFile(filepath.Join(dir, "smsd.log"))
			t.Logf("gammu-smsd log:\n%s", log)
		}
	})
	return r
}

// receive plays an SMS arriving at the modem from number.
func (r *gammuRig) receive(t *testing.T, from, text string) {
	t.Helper()
	out, err := exec.Command("gammu", "-c", r.phoneCfg, "savesms", "TEXT", "-folder", "1", "-unread", "-sender", from, "-text", text).CombinedOutput()
	if err != nil {
		t.Fatalf("gammu savesms: %v\n%s", err, out)
	}
}

// sentTo returns the texts of the SMS gammu-smsd sent (or has yet to send)
// to number.
func (r *gammuRig) sentTo(number string) []string {
	var out []string
	for _, d := range []string{r.sent, r.outbox} {
		ents, _ := os.ReadDir(d)
		for _, e := range ents {
			if strings.HasPrefix(e.Name(), "OUT") && strings.Contains(e.Name(), "_"+number+"_") {
				b, _ := os.ReadFile(filepath.Join(d, e.Name()))
				out = append(out, smsbridge.DecodeTextForTest(b))
			}
		}
	}
	return out
}

func code(t *testing.T, secret string, at time.Time) string {
	t.Helper()
	c, err := totp.GenerateCodeCustom(secret, at, totp.ValidateOpts{Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func panicsOf(n *nodetest.Node, gid crypto.GroupID) []node.Entry {
	f, _ := n.Feed(node.FeedQuery{Group: gid})
	var out []node.Entry
	for _, e := range f {
		if e.Kind == "panic" {
			out = append(out, e)
		}
	}
	return out
}

// TestGammuBridge runs the SMS bridge against a real gammu-smsd: an SMS in
// the modem's inbox becomes a panic in every member's feed, as the
// member's, via SMS through the bridge; a wrong code, an unknown number
// and a replayed SMS are refused and counted; an escalated overdue alarm
// is written to the outbox, addressed to the group's safe line. It logs
// the two delays the bridge adds: SMS to panic in every feed, and
// escalation to SMS in the outbox.
func TestGammuBridge(t *testing.T) {
	rig := startGammu(t)
	nt := nodetest.New(t, 3, nodetest.Options{Config: func(_ int, c *node.Config) {
		c.AlarmJitter = -1
		c.CatchUp = -1
	}})
	gid := nt.Group("juchitan")
	ana, beto, carmen := nt.Nodes[0], nt.Nodes[1], nt.Nodes[2]
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if _, err := ana.SetRole(ctx, gid, beto.Identity.ID().String(), alert.RoleAdmin); err != nil {
		t.Fatal(err)
	}
	nt.WaitFor(30*time.Second, "Beto an admin at his node", func() bool {
		for _, g := range beto.Groups() {
			if g.Role == "admin" {
				return true
			}
		}
		return false
	})

	rec := &recording{Backend: &smsbridge.Gammu{Inbox: rig.inbox, Outbox: rig.outbox, Poll: 50 * time.Millisecond}}
	br, err := smsbridge.New(smsbridge.Config{Node: beto.Node, Store: beto.Store, Backend: rec,
		Logger: slog.New(slog.NewTextHandler(testWriter{t}, nil))})
	if err != nil {
		t.Fatal(err)
	}
	const safeLine, anaPhone, stranger = "+525550001111", "+5219511234567", "+5215559998888"
	if _, err := br.SetLines(gid, []string{safeLine}, "short", "es"); err != nil {
		t.Fatal(err)
	}
	grant, err := ana.Grant(gid, beto.Identity.ID(), time.Now().Add(90*24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	enr, err := br.Enrol(gid, ana.Identity.ID(), grant, "+52 1 951 123 4567", "totp")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- br.Run(ctx) }()
	defer func() { cancel(); <-done }()

	// In: a panic by SMS.
	start := time.Now()
	c := code(t, enr.Secret, time.Now())
	rig.receive(t, anaPhone, "PÁNICO hombres armados en la entrada "+c)
	for _, n := range []*nodetest.Node{ana, beto, carmen} {
		nt.WaitFor(60*time.Second, "the SMS panic at "+n.Identity.Name(), func() bool { return len(panicsOf(n, gid)) == 1 })
	}
	allSeen := time.Now()
	made := panicsOf(beto, gid)[0].Created // when the bridge sent it
	for _, n := range []*nodetest.Node{ana, carmen} {
		e := panicsOf(n, gid)[0]
		if e.AuthorID != ana.Identity.ID().String() || e.Via == nil || e.Via.BridgeID != beto.Identity.ID().String() || !strings.Contains(e.Text, "hombres armados") {
			t.Fatalf("%s sees %+v via %+v", n.Identity.Name(), e, e.Via)
		}
	}
	nt.WaitFor(30*time.Second, "the answer to Ana", func() bool { return len(rig.sentTo("+529511234567")) == 1 })

	// Refused and counted: the same SMS again (a replay: the code was
	// used), a wrong code, and a number no member enrolled.
	rig.receive(t, anaPhone, "PANICO hombres armados en la entrada "+c)
	wrong := fmt.Sprintf("%06d", (atoi(c)+1)%1000000)
	rig.receive(t, anaPhone, "PANICO "+wrong)
	rig.receive(t, stranger, "PANICO "+code(t, enr.Secret, time.Now()))
	nt.WaitFor(60*time.Second, "the three refusals", func() bool {
		s := br.Stats()
		return s.Replayed == 1 && s.BadCode == 1 && s.UnknownFrom == 1
	})
	if s := br.Stats(); s.Accepted != 1 {
		t.Fatalf("stats %+v", s)
	}
	if len(rig.sentTo("+525559998888")) != 0 {
		t.Fatal("the bridge answered a number it does not know")
	}

	// Out: a check-in nobody ends and nobody answers escalates; the
	// escalation goes to the safe line.
	if _, err := carmen.StartCheckIn(ctx, gid, node.CheckInRequest{To: "Ixtepec", Due: time.Now().Add(2 * time.Second),
		Grace: new(time.Duration), EscalateAfter: time.Second}); err != nil {
		t.Fatal(err)
	}
	// From when the escalation was made (its time by the bridge's clock,
	// to the millisecond) to when the bridge had written its SMS to
	// gammu-smsd's outbox.
	var escalated time.Time
	nt.WaitFor(60*time.Second, "the escalation at the bridge", func() bool {
		f, _ := beto.Feed(node.FeedQuery{Group: gid})
		for _, e := range f {
			if e.Kind == "overdue" && e.Level == 2 {
				escalated = e.Created
				return true
			}
		}
		return false
	})
	nt.WaitFor(60*time.Second, "the SMS to the safe line", func() bool { return len(rig.sentTo(safeLine)) >= 2 })
	toOutbox := rec.last(safeLine).Sub(escalated)
	texts := strings.Join(rig.sentTo(safeLine), "\n")
	for _, want := range []string{"takecare PANICO", "takecare NO HA LLEGADO, Ixtepec"} {
		if !strings.Contains(texts, want) {
			t.Errorf("the safe line did not get %q:\n%s", want, texts)
		}
	}
	// Short content: no names, no texts.
	for _, leak := range []string{"hombres", ana.Identity.Name(), carmen.Identity.Name()} {
		if strings.Contains(texts, leak) {
			t.Errorf("a short SMS says %q:\n%s", leak, texts)
		}
	}
	t.Logf("SMS saved in the modem to the panic in every member's feed (3 nodes, mocknet; includes gammu-smsd's 1 s receive poll): %s",
		allSeen.Sub(start).Round(time.Millisecond))
	t.Logf("panic made by the bridge to the panic in every member's feed: %s", allSeen.Sub(made).Round(time.Millisecond))
	t.Logf("escalation made to its SMS in gammu-smsd's outbox, at the bridge: %s", toOutbox.Round(100*time.Microsecond))
}

// recording notes when the bridge last wrote an SMS to each number.
type recording struct {
	smsbridge.Backend
	mu sync.Mutex
	at map[string]time.Time
}

func (r *recording) Send(ctx context.Context, number, text string) error {
	err := r.Backend.Send(ctx, number, text)
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.at == nil {
		r.at = map[string]time.Time{}
	}
	r.at[number] = time.Now()
	return err
}

func (r *recording) last(number string) time.Time {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.at[number]
}

// testWriter sends the bridge's log to the test's.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

func atoi(s string) int {
	n := 0
	for _, r := range s {
		n = n*10 + int(r-'0')
	}
	return n
}
