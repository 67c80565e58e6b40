package storage

// The journal's side of a journaled log (see Journal).

// journalDurable records that the journal made the append ending at w.end
// durable, and advances the high watermark to it if the append is done.
func (l *Log) journalDurable(w jwait) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if w.end > l.jdur.end {
		l.jdur = w
	}
	l.advanceJournaledLocked()
}

// advanceJournaledLocked moves the high watermark to the furthest append
// the journal made durable, once the log's end includes it: the journal's
// round may end before the Append that wrote the entry has updated the
// log's end (it writes the journal first), and then that Append moves
// the watermark itself. Called with mu held.
func (l *Log) advanceJournaledLocked() {
	d := l.jdur
	if l.closed || l.fenced != nil || d.end <= l.hw || d.end > l.leo {
		return
	}
	l.hw, l.hwBase, l.hwPos = d.end, d.base, d.pos
	l.notifyLocked()
}

// journalCheckpoint makes everything the log wrote to its segments
// durable (so the journal may drop its entries), advancing the high
// watermark. Taking appendMu first waits for an Append that wrote its
// journal entry but has not yet marked its segment dirty.
func (l *Log) journalCheckpoint() error {
	l.appendMu.Lock()
	//lint:ignore SA2001 an empty critical section: a barrier for Append
	l.appendMu.Unlock()
	return l.syncRound(false)
}
