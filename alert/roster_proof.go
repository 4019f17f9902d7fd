package alert

// Proof returns the roster op with the given id and every op it descends
// from, except those the holder of the ops in have already holds (each op
// in have and its ancestors), in application order: what a node that holds
// have needs to apply that op. Ids in have that this roster does not hold
// are ignored. It returns nil if the op is not applied here (unknown or
// still waiting for its parents).
//
// A node uses it to prove to a removed member's node that it was removed
// (PROTOCOL.md, "Removal notice"): the removal and its ancestors are what
// the group was when the removal was made, which that member could read
// then, and nothing after it.
func (r *Roster) Proof(id ID, have []ID) []SignedOp {
	r.mu.RLock()
	defer r.mu.RUnlock()
	if _, ok := r.ops[id]; !ok {
		return nil
	}
	held := make(map[ID]bool)
	var mark func(ID)
	mark = func(x ID) {
		e, ok := r.ops[x]
		if !ok || held[x] {
			return
		}
		held[x] = true
		for _, p := range e.op.Parents {
			mark(p)
		}
	}
	for _, h := range have {
		mark(h)
	}
	need := make(map[ID]bool)
	var walk func(ID)
	walk = func(x ID) {
		if need[x] || held[x] {
			return
		}
		need[x] = true
		for _, p := range r.ops[x].op.Parents {
			walk(p)
		}
	}
	walk(id)
	out := make([]SignedOp, 0, len(need))
	for _, x := range r.order {
		if need[x] {
			out = append(out, r.ops[x].signed)
		}
	}
	return out
}
