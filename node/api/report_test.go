package api_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/takecare-network/takecare/node"
	"github.com/takecare-network/takecare/node/nodetest"
	"github.com/takecare-network/takecare/node/report"
)

// An admin gets the group's public counts from real alerts, as JSON, CSV
// and SVG; a member who is not an admin is refused.
func TestReportForAdminsOnly(t *testing.T) {
	t.Parallel()
	nt := nodetest.New(t, 2, nodetest.Options{})
	gid := nt.Group("juchitan")
	a, b := nt.Nodes[0], nt.Nodes[1]
	ctx := context.Background()
	for i := range 6 {
		kind := "danger"
		if i == 5 {
			kind = "detention"
		}
		if _, err := a.SendAlert(ctx, gid, node.AlertRequest{Kind: kind, Severity: "urgent", Region: "Istmo", Place: "crossroads", Text: fmt.Sprintf("Armed men (%d)", i)}); err != nil {
			t.Fatal(err)
		}
	}

	base, token := webServer(t, a.Node)
	resp, body := call(t, "GET", base+"/v1/groups/juchitan/report?by=kind,region", token, "", nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("report: %s %s", resp.Status, body)
	}
	var r report.Report
	if err := json.Unmarshal(body, &r); err != nil {
		t.Fatal(err)
	}
	if len(r.Cells) != 2 || r.Cells[0] != (report.Cell{Kind: "danger", Region: "istmo", Count: 5}) ||
		r.Cells[1] != (report.Cell{Kind: "detention", Region: "istmo", Suppressed: true}) {
		t.Fatalf("cells %+v", r.Cells)
	}
	resp, body = call(t, "GET", base+"/v1/groups/juchitan/report?by=kind&format=csv", token, "", nil)
	if resp.StatusCode != http.StatusOK || string(body) != "kind,count\ndanger,5\ndetention,<5\n" {
		t.Fatalf("csv: %s %q", resp.Status, body)
	}
	resp, body = call(t, "GET", base+"/v1/groups/juchitan/report?format=svg", token, "", nil)
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "image/svg+xml" || !strings.HasPrefix(string(body), "<svg") {
		t.Fatalf("svg: %s %s %.40q", resp.Status, resp.Header.Get("Content-Type"), body)
	}
	resp, body = call(t, "GET", base+"/v1/groups/juchitan/report?by=author", token, "", nil)
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("by author: %s %s", resp.Status, body)
	}

	baseB, tokenB := webServer(t, b.Node)
	resp, body = call(t, "GET", baseB+"/v1/groups/juchitan/report", tokenB, "", nil)
	if resp.StatusCode != http.StatusForbidden || !strings.Contains(string(body), `"code":"not_admin"`) {
		t.Fatalf("member's report: %s %s", resp.Status, body)
	}
}
