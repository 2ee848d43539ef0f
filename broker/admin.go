package broker

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/sol-broker/sol/admin"
	"github.com/sol-broker/sol/metrics"
	"github.com/sol-broker/sol/mqtt"
)

// adminRequest is a question from the admin API, answered on a loop's
// goroutine through its mailbox (handler.Mail), so that sessions are read
// by their owner only.
type adminRequest interface {
	run(ls *loopState)
}

// adminCall runs fn on a loop and hands the result back on reply, which is
// buffered (capacity 1): the loop never waits for a caller that gave up.
type adminCall[T any] struct {
	fn    func(ls *loopState) T
	reply chan T
}

func (c *adminCall[T]) run(ls *loopState) { c.reply <- c.fn(ls) }

// askLoops runs fn on each of the loops idx (every loop when idx is nil)
// and returns the answers in loop order, or an error wrapping ctx's when ctx
// ends first. Any goroutine except a loop's (a loop asking itself would
// wait for its own mailbox).
func askLoops[T any](ctx context.Context, b *Broker, idx []int, fn func(ls *loopState) T) ([]T, error) {
	if idx == nil {
		idx = make([]int, len(b.loops))
		for i := range idx {
			idx[i] = i
		}
	}
	calls := make([]*adminCall[T], len(idx))
	for n, i := range idx {
		calls[n] = &adminCall[T]{fn: fn, reply: make(chan T, 1)}
		b.loops[i].l.Post(calls[n])
	}
	out := make([]T, len(idx))
	for n, c := range calls {
		select {
		case out[n] = <-c.reply:
		case <-b.loops[idx[n]].l.Exited(): // failed (Failed): drops its mail
			return nil, fmt.Errorf("event loop %d has exited", idx[n])
		case <-ctx.Done():
			return nil, fmt.Errorf("waiting for event loop %d: %w", idx[n], ctx.Err())
		}
	}
	return out, nil
}

// page returns list[offset:offset+limit] within bounds; limit <= 0 means
// no limit.
func page[T any](list []T, offset, limit int) []T {
	if offset >= len(list) || offset < 0 {
		return []T{}
	}
	list = list[offset:]
	if limit > 0 && limit < len(list) {
		list = list[:limit]
	}
	return list
}

// Admin returns the broker as the admin HTTP server sees it (admin.Serve).
// Its methods may be called from any goroutine except the event loops';
// each posts a request to the loop(s) owning the state asked about and
// waits for the answer or for ctx to end.
func (b *Broker) Admin() admin.Broker { return adminBroker{b} }

// adminBroker implements admin.Broker over the event loops.
type adminBroker struct{ b *Broker }

// clientInfo describes s. Owner loop only.
func (ls *loopState) clientInfo(s *session) admin.ClientInfo {
	ci := admin.ClientInfo{
		ID:              s.clientID,
		Username:        s.username,
		ProtocolVersion: int(s.version),
		Loop:            ls.idx,
		CleanStart:      s.cleanStart,
		SessionExpiry:   int64(s.expiry),
		Subscriptions:   len(s.subs),
		Queued:          s.view().queue.len(),
		Inflight:        len(s.view().inflight.entries),
	}
	if cs := s.conn; cs != nil && cs.state == stateConnected {
		ci.Connected = true
		if a := cs.c.RemoteAddr(); a != nil {
			ci.RemoteAddr = a.String()
		}
		if lo := cs.listenerOpts(); lo != nil {
			ci.Listener = lo.Address
		}
		ci.KeepAlive = int(cs.keepAlive)
	}
	return ci
}

// Clients implements admin.Broker: every loop lists its sessions.
func (a adminBroker) Clients(ctx context.Context, offset, limit int) ([]admin.ClientInfo, int, error) {
	per, err := askLoops(ctx, a.b, nil, func(ls *loopState) []admin.ClientInfo {
		out := make([]admin.ClientInfo, 0, ls.sessions.len())
		for s := range ls.sessions.all() {
			out = append(out, ls.clientInfo(s))
		}
		return out
	})
	if err != nil {
		return nil, 0, fmt.Errorf("listing clients: %w", err)
	}
	all := slices.Concat(per...)
	slices.SortFunc(all, func(x, y admin.ClientInfo) int { return cmp.Compare(x.ID, y.ID) })
	return page(all, offset, limit), len(all), nil
}

// Client implements admin.Broker: the owner loop describes the session.
func (a adminBroker) Client(ctx context.Context, id string) (admin.ClientInfo, error) {
	type answer struct {
		ci admin.ClientInfo
		ok bool
	}
	res, err := askLoops(ctx, a.b, []int{a.b.ownerOf([]byte(id))}, func(ls *loopState) answer {
		s := ls.sessions.get(id)
		if s == nil {
			return answer{}
		}
		return answer{ls.clientInfo(s), true}
	})
	if err != nil {
		return admin.ClientInfo{}, fmt.Errorf("client %q: %w", id, err)
	}
	if !res[0].ok {
		return admin.ClientInfo{}, fmt.Errorf("client %q: %w", id, admin.ErrNotFound)
	}
	return res[0].ci, nil
}

// Disconnect implements admin.Broker: the owner loop closes the client's
// connection, sending DISCONNECT 0x98 to a 5.0 client first. The session
// stays or ends as its Session Expiry says; the will is published (a
// server-initiated close).
func (a adminBroker) Disconnect(ctx context.Context, id string) error {
	res, err := askLoops(ctx, a.b, []int{a.b.ownerOf([]byte(id))}, func(ls *loopState) bool {
		s := ls.sessions.get(id)
		if s == nil || s.conn == nil || s.conn.state != stateConnected {
			return false
		}
		ls.b.log.Info("client disconnected by the admin API", "client", id)
		s.conn.disconnect(mqtt.AdministrativeAction)
		return true
	})
	if err != nil {
		return fmt.Errorf("disconnecting client %q: %w", id, err)
	}
	if !res[0] {
		return fmt.Errorf("client %q is not connected: %w", id, admin.ErrNotFound)
	}
	return nil
}

// subscriptionInfos lists s's subscriptions. Owner loop only.
func subscriptionInfos(s *session, out []admin.SubscriptionInfo) []admin.SubscriptionInfo {
	for f, o := range s.subs {
		out = append(out, admin.SubscriptionInfo{
			ClientID:          s.clientID,
			Filter:            f,
			QoS:               int(o.QoS),
			NoLocal:           o.NoLocal,
			RetainAsPublished: o.RetainAsPublished,
			RetainHandling:    int(o.RetainHandling),
			Identifier:        int(o.SubscriptionID),
		})
	}
	return out
}

// Subscriptions implements admin.Broker: the owner loop of clientID, or
// every loop when it is empty, lists subscriptions. An unknown clientID is
// ErrNotFound.
func (a adminBroker) Subscriptions(ctx context.Context, clientID string, offset, limit int) ([]admin.SubscriptionInfo, int, error) {
	var idx []int
	if clientID != "" {
		idx = []int{a.b.ownerOf([]byte(clientID))}
	}
	type answer struct {
		subs  []admin.SubscriptionInfo
		found bool
	}
	per, err := askLoops(ctx, a.b, idx, func(ls *loopState) answer {
		if clientID != "" {
			s := ls.sessions.get(clientID)
			if s == nil {
				return answer{}
			}
			return answer{subscriptionInfos(s, nil), true}
		}
		var out []admin.SubscriptionInfo
		for s := range ls.sessions.all() {
			out = subscriptionInfos(s, out)
		}
		return answer{out, true}
	})
	if err != nil {
		return nil, 0, fmt.Errorf("listing subscriptions: %w", err)
	}
	var all []admin.SubscriptionInfo
	for _, p := range per {
		if !p.found {
			return nil, 0, fmt.Errorf("subscriptions of client %q: %w", clientID, admin.ErrNotFound)
		}
		all = append(all, p.subs...)
	}
	slices.SortFunc(all, func(x, y admin.SubscriptionInfo) int {
		return cmp.Or(cmp.Compare(x.ClientID, y.ClientID), cmp.Compare(x.Filter, y.Filter))
	})
	return page(all, offset, limit), len(all), nil
}

// Retained implements admin.Broker from the retained store, which is safe
// from any goroutine; payloads are copied.
func (a adminBroker) Retained(ctx context.Context, filter string, offset, limit int) ([]admin.RetainedInfo, int, error) {
	if err := mqtt.ValidTopicFilter([]byte(filter), mqtt.Version5); err != nil {
		return nil, 0, fmt.Errorf("topic filter %q: %w", filter, admin.ErrInvalid)
	}
	var all []admin.RetainedInfo
	a.b.retained.Match(filter, func(topic string, m *Msg) bool {
		all = append(all, admin.RetainedInfo{Topic: topic, QoS: int(m.QoS), PayloadSize: len(m.Payload)})
		all[len(all)-1].Payload = m.Payload // immutable; copied for the page only
		return ctx.Err() == nil
	})
	if err := ctx.Err(); err != nil {
		return nil, 0, fmt.Errorf("listing retained messages: %w", err)
	}
	slices.SortFunc(all, func(x, y admin.RetainedInfo) int { return cmp.Compare(x.Topic, y.Topic) })
	p := page(all, offset, limit)
	for i := range p {
		p[i].Payload = append([]byte{}, p[i].Payload...)
	}
	return p, len(all), nil
}

// DeleteRetained implements admin.Broker on the retained store.
func (a adminBroker) DeleteRetained(ctx context.Context, topic string) error {
	if !a.b.retained.Delete(topic) {
		return fmt.Errorf("retained message on %q: %w", topic, admin.ErrNotFound)
	}
	return nil
}

// Metrics implements admin.Broker: the registry's snapshot, which reads
// atomics and never waits for a loop. With metrics off, every counter is
// zero.
func (a adminBroker) Metrics() metrics.Snapshot {
	if a.b.reg == nil {
		now := time.Now()
		return metrics.Snapshot{Version: a.b.opts.Version, Start: now, Taken: now}
	}
	return a.b.reg.Snapshot()
}
