package main

import (
	"fmt"
	"go/ast"
	"go/importer"
	"go/parser"
	"go/token"
	"go/types"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// load lists, parses and type-checks the packages of pattern (imports come
// from the build cache's export data).
func load(fset *token.FileSet, pattern string) ([]*pkg, error) {
	imp, err := exportImporter(fset, pattern)
	if err != nil {
		return nil, err
	}
	out, err := exec.Command("go", "list", "-f", "{{.ImportPath}}\t{{.Dir}}\t{{join .GoFiles \" \"}}", pattern).Output()
	if err != nil {
		return nil, fmt.Errorf("go list: %w", err)
	}
	var pkgs []*pkg
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.SplitN(l, "\t", 3)
		if len(f) != 3 || strings.HasSuffix(f[0], "/archstat") {
			continue // not itself
		}
		p, err := check(fset, imp, f[0], f[1], strings.Fields(f[2]))
		if err != nil {
			return nil, err
		}
		pkgs = append(pkgs, p)
	}
	return pkgs, nil
}

// exportImporter returns an importer that reads the export data of
// pattern's dependencies from the build cache (go list -export).
func exportImporter(fset *token.FileSet, pattern string) (types.Importer, error) {
	out, err := exec.Command("go", "list", "-export", "-deps", "-f", "{{.ImportPath}}\t{{.Export}}", pattern).Output()
	if err != nil {
		return nil, fmt.Errorf("go list -export: %w", err)
	}
	exports := make(map[string]string)
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if p, e, ok := strings.Cut(l, "\t"); ok {
			exports[p] = e
		}
	}
	return importer.ForCompiler(fset, "gc", func(path string) (io.ReadCloser, error) {
		if e := exports[path]; e != "" {
			return os.Open(e)
		}
		return nil, fmt.Errorf("no export data for %s", path)
	}), nil
}

// check parses and type-checks the package path in dir. Generated files
// (.pb.go) are checked but not measured.
func check(fset *token.FileSet, imp types.Importer, path, dir string, names []string) (*pkg, error) {
	wd, _ := os.Getwd()
	p := &pkg{path: path, info: &types.Info{Uses: make(map[*ast.Ident]types.Object), Defs: make(map[*ast.Ident]types.Object)}}
	var all []*ast.File
	for _, name := range names {
		file := filepath.Join(dir, name)
		af, err := parser.ParseFile(fset, file, nil, 0)
		if err != nil {
			return nil, err
		}
		all = append(all, af)
		if strings.HasSuffix(name, ".pb.go") {
			continue
		}
		if rel, err := filepath.Rel(wd, file); err == nil {
			file = rel
		}
		p.files = append(p.files, af)
		p.names = append(p.names, file)
	}
	conf := types.Config{Importer: imp, Error: func(error) {}}
	if _, err := conf.Check(path, fset, all, p.info); err != nil {
		return nil, fmt.Errorf("type-checking %s: %w", path, err)
	}
	return p, nil
}
