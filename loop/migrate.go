package loop

import "slices"

// Migrate hands c to loop to: c is deregistered here and posted to to, which
// registers it, calls Handler.Open(c) and then Handler.Data(c, pending) with
// the input not yet consumed. Output already queued goes with c and is
// written by to. No byte is lost or reordered. The handover happens at the
// end of the current iteration, after the current callback returns, so
// Migrate may be called from inside Data (the unconsumed rest of in becomes
// the pending input handed over). After Migrate the old loop must not touch
// c. Migrate to c's own loop, or of a closing connection, does nothing.
// Owner loop only.
func (c *Conn) Migrate(to *Loop) {
	if to == nil || to == c.l || c.closing || c.closed.Load() {
		return
	}
	x := c.ext()
	if x.migrateTo == nil {
		c.l.migrations = append(c.l.migrations, c)
	}
	x.migrateTo = to
}

// postMigrations runs last in an iteration: after it, this loop no longer
// touches the migrated connections.
func (l *Loop) postMigrations() {
	for i, c := range l.migrations {
		l.migrations[i] = nil
		to := c.migrating()
		if to == nil || c.closed.Load() || c.l != l {
			continue
		}
		l.deregister(c)
		l.untable(c)
		l.setHint(c, 0) // kept per loop; the destination learns its own
		// A write or ResumeRead after this iteration's flush and
		// redelivery (in Handler.Flush, or in Handler.Closed of a close
		// the flush caused) left c listed for the next iteration, which
		// must not touch it any more; the destination flushes c's output
		// and delivers its pending input when it adopts it.
		isC := func(x *Conn) bool { return x == c }
		if c.dirty {
			c.dirty = false
			l.dirty = slices.DeleteFunc(l.dirty, isC)
		}
		if c.redeliver {
			c.redeliver = false
			l.redeliver = slices.DeleteFunc(l.redeliver, isC)
		}
		// Stored before the post, while no other loop can touch c; a
		// Shutdown that reads it early is held by to until c arrives
		// (Loop.earlyClose).
		c.owner.Store(to)
		wake, ok := to.mb.post(migrateMsg{c})
		if !ok {
			// destination exited (only after a fatal poll error)
			c.owner.Store(l)
			l.conns[c.fd] = c
			l.nconns++
			c.x.migrateTo = nil
			l.finalClose(c, ErrStopped)
			continue
		}
		if wake {
			to.wake()
		}
	}
	l.migrations = l.migrations[:0]
	l.reapClosed()
}
