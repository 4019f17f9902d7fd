package report_test

import (
	"bytes"
	"encoding/xml"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/takecare-network/takecare/node"
	"github.com/takecare-network/takecare/node/report"
)

var (
	nov = time.Date(2026, 11, 3, 10, 0, 0, 0, time.UTC)
	dec = time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
)

// entries makes n feed entries of a kind, with everything a report must
// not publish filled in.
func entries(n int, kind, region string, at time.Time) []node.Entry {
	var out []node.Entry
	for range n {
		out = append(out, node.Entry{
			ID: strings.Repeat("a1", 32), GroupID: "g1", Group: "juchitan", Kind: kind, Severity: "urgent",
			Region: region, Place: "crossroads to Ixtepec", Text: "Armed men at the crossroads",
			Author: "Ana", AuthorID: strings.Repeat("b2", 32), Created: at,
		})
	}
	return out
}

func concat(xs ...[]node.Entry) []node.Entry {
	var out []node.Entry
	for _, x := range xs {
		out = append(out, x...)
	}
	return out
}

func TestCountsAndSuppression(t *testing.T) {
	t.Parallel()
	es := concat(
		entries(6, "danger", "Istmo", nov),
		entries(1, "danger", " istmo ", nov), // the same region, written otherwise
		entries(2, "detention", "Sierra", nov),
		entries(5, "danger", "", dec),
		entries(3, "checkin", "", nov),  // not events
		entries(2, "arrived", "", nov),  //
		entries(1, "allclear", "", nov), //
	)
	// One missed check-in, alarmed at level 1 and escalated: one event.
	for level := 1; level <= 2; level++ {
		e := entries(1, "overdue", "", nov)[0]
		e.CheckIn, e.Level = strings.Repeat("c3", 32), level
		es = append(es, e)
	}

	r, err := report.Make("juchitan", es, report.Options{By: []string{"month", "kind"}}, dec)
	if err != nil {
		t.Fatal(err)
	}
	var csv bytes.Buffer
	if err := r.WriteCSV(&csv); err != nil {
		t.Fatal(err)
	}
	want := "month,kind,count\n2026-11,danger,7\n2026-11,detention,<5\n2026-11,overdue,<5\n2026-12,danger,5\n"
	if csv.String() != want {
		t.Fatalf("CSV:\n%s\nwant:\n%s", csv.String(), want)
	}

	r, err = report.Make("juchitan", es, report.Options{By: []string{"region"}, Threshold: 1}, dec)
	if err != nil {
		t.Fatal(err)
	}
	csv.Reset()
	r.WriteCSV(&csv)
	if want := "region,count\n-,6\nistmo,7\nsierra,2\n"; csv.String() != want {
		t.Fatalf("CSV by region, nothing suppressed:\n%s\nwant:\n%s", csv.String(), want)
	}

	r, _ = report.Make("juchitan", es, report.Options{By: []string{"kind"}, Since: dec}, dec)
	csv.Reset()
	r.WriteCSV(&csv)
	if want := "kind,count\ndanger,5\n"; csv.String() != want {
		t.Fatalf("CSV since December:\n%s\nwant:\n%s", csv.String(), want)
	}
}

// Nothing that names or places anyone reaches the published files, and a
// suppressed cell's number appears nowhere.
func TestPublishesNoNamesTextsOrPlaces(t *testing.T) {
	t.Parallel()
	es := concat(entries(7, "danger", "istmo", nov), entries(3, "detention", "istmo", nov))
	r, err := report.Make("juchitan", es, report.Options{By: []string{"month", "kind", "region"}}, dec)
	if err != nil {
		t.Fatal(err)
	}
	var csv, svg bytes.Buffer
	if err := r.WriteCSV(&csv); err != nil {
		t.Fatal(err)
	}
	if err := r.WriteSVG(&svg); err != nil {
		t.Fatal(err)
	}
	for name, out := range map[string]string{"csv": csv.String(), "svg": svg.String()} {
		for _, secret := range []string{"Ana", "juchitan", "crossroads", "Armed", "a1a1", "b2b2", ">3<", ",3\n"} {
			if strings.Contains(out, secret) {
				t.Errorf("%s holds %q:\n%s", name, secret, out)
			}
		}
	}
	if !strings.Contains(svg.String(), ">&lt;5<") || !strings.Contains(svg.String(), ">7<") {
		t.Errorf("chart lacks its counts:\n%s", svg.String())
	}
	if err := xml.Unmarshal(svg.Bytes(), new(struct{})); err != nil {
		t.Errorf("chart is not well-formed XML: %v", err)
	}
}

func TestBadOptions(t *testing.T) {
	t.Parallel()
	for name, o := range map[string]report.Options{
		"unknown dimension": {By: []string{"place"}},
		"twice":             {By: []string{"kind", "kind"}},
		"no dimension":      {By: []string{}},
		"threshold":         {Threshold: report.MaxThreshold + 1},
		"negative":          {Threshold: -1},
	} {
		if _, err := report.Make("g", nil, o, dec); !errors.Is(err, report.ErrBadOptions) {
			t.Errorf("%s: %v", name, err)
		}
	}
	if _, err := report.ParseBy("month, author"); err == nil {
		t.Error("ParseBy took author")
	}
}
