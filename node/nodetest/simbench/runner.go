package main

import (
	"fmt"
	"os"
	"slices"
	"sync"
	"time"
)

// runner is a nodetest.TB for a program: Fatal panics with a failure that
// main reports, Cleanup runs when the scope closes.
type runner struct {
	name     string
	base     string
	mu       sync.Mutex
	cleanups []func()
}

type failure struct{ msg string }

func newRunner(base, name string) *runner { return &runner{name: name, base: base} }

func (r *runner) Helper()           {}
func (r *runner) Name() string      { return r.name }
func (r *runner) Fatal(args ...any) { panic(failure{r.name + ": " + fmt.Sprint(args...)}) }
func (r *runner) Fatalf(format string, a ...any) {
	panic(failure{r.name + ": " + fmt.Sprintf(format, a...)})
}
func (r *runner) Logf(format string, args ...any) { logf(r.name+": "+format, args...) }

func (r *runner) Cleanup(f func()) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.cleanups = append(r.cleanups, f)
}

func (r *runner) TempDir() string {
	d, err := os.MkdirTemp(r.base, "node")
	if err != nil {
		r.Fatal(err)
	}
	r.Cleanup(func() { os.RemoveAll(d) })
	return d
}

// close runs the cleanups, last first.
func (r *runner) close() {
	r.mu.Lock()
	cs := slices.Clone(r.cleanups)
	r.cleanups = nil
	r.mu.Unlock()
	for i := len(cs) - 1; i >= 0; i-- {
		cs[i]()
	}
}

var start = time.Now()

// logf prints progress on stderr; the table goes to stdout.
func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "[%6.1fs] %s\n", time.Since(start).Seconds(), fmt.Sprintf(format, args...))
}

// workers runs f(0) … f(n-1) on goroutines of their own and waits for them.
// A failure in one (the runner's Fatal panics) is raised again on the
// caller's goroutine, where the part's recover reports it, instead of
// ending the program with every figure measured so far.
func workers(n int, f func(i int)) {
	var (
		wg    sync.WaitGroup
		once  sync.Once
		fault any
	)
	for i := range n {
		wg.Go(func() {
			defer func() {
				if r := recover(); r != nil {
					once.Do(func() { fault = r })
				}
			}()
			f(i)
		})
	}
	wg.Wait()
	if fault != nil {
		panic(fault)
	}
}
