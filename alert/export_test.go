package alert

// WhileAdding makes Add call f while it changes the roster (holding its
// lock), until the returned function is called.
func WhileAdding(f func()) (restore func()) {
	testAdding = f
	return func() { testAdding = nil }
}
