// Command archstat measures the shape of package node and its
// sub-packages against the limits of docs/ARCHITECTURE.md: file sizes,
// function lengths, helper types that keep a *Node, and locks held across
// disk or network I/O.
//
//	go run ./node/internal/archstat [-json] [PATTERN]   (default ./node/...)
//
// Test files and generated files (.pb.go) are left out. A function's
// length runs from its first line to its closing brace.
//
// Locks across I/O: every package is type-checked, and each function body
// is read in source order. From a sync.Mutex or sync.RWMutex Lock (or
// RLock) to the matching Unlock, or to the end of the function after a
// deferred Unlock, every call is checked against calls that reach the disk
// or the network (the store's writes and file reads, bbolt, pubsub's event
// loop, libp2p dials and streams, files) and against the functions of
// these packages that make such calls, directly or through each other.
// Function literals count as part of the function they are written in,
// except after go. Calls through interfaces of our own and through
// function values are not followed, so the list is a floor, and branches
// are read as if each ran.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"go/ast"
	"go/token"
	"go/types"
	"io"
	"os"
	"sort"
	"strings"
)

// Limits from issue 14 ("Done when").
const (
	maxFileLines = 500
	maxFuncLines = 60
)

type report struct {
	Files int `json:"files"`
	// Package node itself: its files, lines and methods on *Node.
	NodeFiles   int      `json:"node_files"`
	NodeLines   int      `json:"node_lines"`
	NodeMethods int      `json:"node_methods"`
	Lines       int      `json:"lines"`
	BigFiles    []sized  `json:"files_over_limit"`
	LongFuncs   []sized  `json:"funcs_over_limit"`
	Largest     []sized  `json:"largest_files"`
	Longest     []sized  `json:"longest_funcs"`
	NodePtrs    []string `json:"node_pointers"`
	LockedIO    []string `json:"locks_across_io"`
	LockOrder   []string `json:"locks_nested"`
}

type sized struct {
	Name  string `json:"name"`
	Lines int    `json:"lines"`
}

type pkg struct {
	path  string
	files []*ast.File
	names []string
	info  *types.Info
}

func main() {
	asJSON := flag.Bool("json", false, "print JSON")
	flag.Parse()
	pattern := "./node/..."
	if flag.NArg() > 0 {
		pattern = flag.Arg(0)
	}
	r, err := measure(pattern)
	if err != nil {
		fmt.Fprintln(os.Stderr, "archstat:", err)
		os.Exit(1)
	}
	if *asJSON {
		json.NewEncoder(os.Stdout).Encode(r)
		return
	}
	write(os.Stdout, r)
}

func measure(pattern string) (report, error) {
	var r report
	fset := token.NewFileSet()
	pkgs, err := load(fset, pattern)
	if err != nil {
		return r, err
	}
	for _, p := range pkgs {
		for i, f := range p.files {
			name := p.names[i]
			n := fset.File(f.Pos()).LineCount()
			r.Files++
			r.Lines += n
			r.Largest = append(r.Largest, sized{name, n})
			facade := strings.HasSuffix(p.path, "/node")
			if facade {
				r.NodeFiles++
				r.NodeLines += n
			}
			for _, d := range f.Decls {
				fd, ok := d.(*ast.FuncDecl)
				if !ok || fd.Body == nil {
					continue
				}
				if facade && fd.Recv != nil && isNodePtr(fd.Recv.List[0].Type) {
					r.NodeMethods++
				}
				start := fset.Position(fd.Pos()).Line
				r.Longest = append(r.Longest, sized{fmt.Sprintf("%s:%d %s", name, start, funcName(fd)), fset.Position(fd.End()).Line - start + 1})
			}
			r.NodePtrs = append(r.NodePtrs, nodePointers(fset, name, f)...)
		}
	}
	bySize := func(s []sized) {
		sort.Slice(s, func(i, j int) bool {
			return s[i].Lines > s[j].Lines || s[i].Lines == s[j].Lines && s[i].Name < s[j].Name
		})
	}
	bySize(r.Largest)
	bySize(r.Longest)
	for _, s := range r.Largest {
		if s.Lines > maxFileLines {
			r.BigFiles = append(r.BigFiles, s)
		}
	}
	for _, s := range r.Longest {
		if s.Lines > maxFuncLines {
			r.LongFuncs = append(r.LongFuncs, s)
		}
	}
	r.Largest = r.Largest[:min(10, len(r.Largest))]
	r.Longest = r.Longest[:min(10, len(r.Longest))]
	r.LockedIO, r.LockOrder = lockedIO(fset, pkgs)
	return r, nil
}

func funcName(fd *ast.FuncDecl) string {
	if fd.Recv == nil || len(fd.Recv.List) == 0 {
		return fd.Name.Name
	}
	t := fd.Recv.List[0].Type
	if s, ok := t.(*ast.StarExpr); ok {
		t = s.X
	}
	if ix, ok := t.(*ast.IndexExpr); ok {
		t = ix.X
	}
	if id, ok := t.(*ast.Ident); ok {
		return id.Name + "." + fd.Name.Name
	}
	return fd.Name.Name
}

// isNodePtr reports whether e is *Node (in package node) or *node.Node.
func isNodePtr(e ast.Expr) bool {
	s, ok := e.(*ast.StarExpr)
	if !ok {
		return false
	}
	switch x := s.X.(type) {
	case *ast.Ident:
		return x.Name == "Node"
	case *ast.SelectorExpr:
		id, ok := x.X.(*ast.Ident)
		return ok && id.Name == "node" && x.Sel.Name == "Node"
	}
	return false
}

// nodePointers lists the struct types that hold a *Node and the functions
// (not methods of Node) that take one.
func nodePointers(fset *token.FileSet, name string, f *ast.File) []string {
	var out []string
	pos := func(p token.Pos) string { return fmt.Sprintf("%s:%d", name, fset.Position(p).Line) }
	ast.Inspect(f, func(n ast.Node) bool {
		switch x := n.(type) {
		case *ast.TypeSpec:
			if st, ok := x.Type.(*ast.StructType); ok {
				for _, fl := range st.Fields.List {
					if isNodePtr(fl.Type) {
						out = append(out, fmt.Sprintf("%s type %s holds a *Node", pos(x.Pos()), x.Name.Name))
					}
				}
			}
		case *ast.FuncDecl:
			if x.Recv != nil && len(x.Recv.List) > 0 && isNodePtr(x.Recv.List[0].Type) {
				return true
			}
			for _, p := range x.Type.Params.List {
				if isNodePtr(p.Type) {
					out = append(out, fmt.Sprintf("%s func %s takes a *Node", pos(x.Pos()), funcName(x)))
				}
			}
		}
		return true
	})
	return out
}

func write(out io.Writer, r report) {
	fmt.Fprintf(out, "%d files, %d lines (no tests, no generated code)\n", r.Files, r.Lines)
	fmt.Fprintf(out, "package node: %d files, %d lines, %d methods on *Node\n\n", r.NodeFiles, r.NodeLines, r.NodeMethods)
	sizes := func(title string, s []sized) {
		fmt.Fprintln(out, title)
		if len(s) == 0 {
			fmt.Fprintln(out, "  none")
		}
		for _, x := range s {
			fmt.Fprintf(out, "  %5d  %s\n", x.Lines, x.Name)
		}
		fmt.Fprintln(out)
	}
	sizes(fmt.Sprintf("files over %d lines: %d", maxFileLines, len(r.BigFiles)), r.BigFiles)
	sizes(fmt.Sprintf("functions over %d lines: %d", maxFuncLines, len(r.LongFuncs)), r.LongFuncs)
	lines := func(title string, s []string) {
		fmt.Fprintf(out, "%s: %d\n", title, len(s))
		if len(s) == 0 {
			fmt.Fprintln(out, "  none")
		}
		for _, x := range s {
			fmt.Fprintln(out, "  "+x)
		}
		fmt.Fprintln(out)
	}
	lines("*Node held by helper types or taken by functions", r.NodePtrs)
	lines("calls that do disk or network I/O under a lock", r.LockedIO)
	lines("locks taken while another is held (in one function)", r.LockOrder)
}
