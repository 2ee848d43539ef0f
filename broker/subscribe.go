package broker

import (
	"bytes"

	"github.com/sol-broker/sol/mqtt"
	"github.com/sol-broker/sol/trie"
)

// onSubscribe handles SUBSCRIBE: one SUBACK code per filter, then the
// retained messages the subscriptions ask for.
func (cs *conn) onSubscribe(pkt []byte) error {
	ls, o, s := cs.ls, &cs.ls.b.opts, cs.s
	p := &ls.sub
	if err := mqtt.DecodeSubscribe(pkt, cs.version, p); err != nil {
		return err
	}
	var subID uint32
	if p.Props.Has(mqtt.PropSubscriptionID) && len(p.Props.SubscriptionIDs) > 0 {
		if o.DisableSubscriptionIdentifiers {
			return mqtt.SubscriptionIdentifiersNotSupported // [MQTT-3.8.2-2]
		}
		subID = p.Props.SubscriptionIDs[0]
	}
	codes := ls.codes[:0]
	// Retained messages go out after the SUBACK [MQTT-3.8.4-4]: remember
	// which filters want them.
	type wantRetained struct {
		filter string
		opts   trie.SubOptions
	}
	var retained []wantRetained
	for i := range p.Filters {
		f := &p.Filters[i]
		rc, inner, shared := cs.checkFilter(f)
		if shared && f.NoLocal {
			return mqtt.ProtocolError // [MQTT-3.8.3-4]
		}
		if rc.IsError() {
			codes = append(codes, rc)
			continue
		}
		qos := min(f.QoS, o.MaxQoS)
		opts := trie.SubOptions{QoS: qos, NoLocal: f.NoLocal, RetainAsPublished: f.RetainAsPublished,
			RetainHandling: f.RetainHandling, SubscriptionID: subID}
		if cs.version < mqtt.Version5 {
			opts = trie.SubOptions{QoS: qos}
			if cs.bridge {
				// A Mosquitto bridge (try_private) must not get its own
				// messages back, and needs the retain flag kept to pass it
				// on: Mosquitto gives such 3.1.1 subscriptions No Local and
				// Retain As Published.
				opts.NoLocal, opts.RetainAsPublished = true, true
			}
		}
		filter := string(f.Filter)
		others := len(s.subs) // subscriptions s keeps besides this one
		if _, again := s.subs[filter]; again {
			others--
		}
		if others > 0 {
			s.flags.Or(flagMulti) // before the trie can show both (see flagMulti)
		}
		replaced := ls.b.subs.Subscribe(filter, s, opts) // [MQTT-3.8.4-3] replaces
		if s.subs == nil {
			s.subs = make(map[string]trie.SubOptions)
		}
		s.subs[filter] = opts
		if shared && !replaced {
			ls.b.sharedSubs.Add(1)
		}
		codes = append(codes, mqtt.ReasonCode(qos))
		if !shared && !o.DisableRetain && (f.RetainHandling == 0 || f.RetainHandling == 1 && !replaced) {
			retained = append(retained, wantRetained{string(inner), opts})
		}
	}
	ls.codes = codes
	cs.write(mqtt.AppendSuback(ls.enc[:0], cs.version, p.PacketID, codes, nil))
	for _, w := range retained {
		ls.sendRetained(s, w.filter, w.opts)
	}
	return nil
}

// checkFilter returns the SUBACK code for a filter the client may not have
// (or Success), the filter without its $share prefix, and whether it is a
// shared subscription.
func (cs *conn) checkFilter(f *mqtt.Subscription) (rc mqtt.ReasonCode, inner []byte, shared bool) {
	o := &cs.ls.b.opts
	inner = f.Filter
	if _, in, ok, err := mqtt.ParseShared(f.Filter); err != nil {
		return mqtt.TopicFilterInvalid, inner, false
	} else if ok {
		if o.DisableSharedSubscriptions {
			return mqtt.SharedSubscriptionsNotSupported, inner, true // [MQTT-3.8.3-?] 0x9E
		}
		inner, shared = in, true
	}
	if err := mqtt.ValidTopicFilter(f.Filter, cs.version); err != nil {
		return mqtt.TopicFilterInvalid, inner, shared
	}
	if o.DisableWildcardSubscriptions && bytes.ContainsAny(inner, "+#") {
		return mqtt.WildcardSubscriptionsNotSupported, inner, shared
	}
	if a := o.Auth; a != nil && !a.CanSubscribe(cs.s.clientID, cs.s.username, f.Filter) {
		if cs.version < mqtt.Version5 {
			return mqtt.UnspecifiedError, inner, shared // 3.1.1: 0x80 Failure
		}
		return mqtt.NotAuthorized, inner, shared
	}
	return mqtt.Success, inner, shared
}

// sendRetained delivers the retained messages matching filter to s, with the
// RETAIN flag set [MQTT-3.3.1-9] and the subscription's QoS and identifier.
func (ls *loopState) sendRetained(s *session, filter string, opts trie.SubOptions) {
	now := ls.now()
	ls.b.retained.Match(filter, func(topic string, m *Msg) bool {
		if m.expired(now) {
			return true
		}
		d := delivery{s: s, m: m, qos: min(m.QoS, opts.QoS), retain: true}
		d.addSubID(opts.SubscriptionID)
		ls.deliver(&d)
		return true
	})
}

// onUnsubscribe handles UNSUBSCRIBE: UNSUBACK with one code per filter in
// 5.0 [MQTT-3.11.3-1].
func (cs *conn) onUnsubscribe(pkt []byte) error {
	ls, s := cs.ls, cs.s
	p := &ls.unsub
	if err := mqtt.DecodeUnsubscribe(pkt, cs.version, p); err != nil {
		return err
	}
	codes := ls.codes[:0]
	for _, f := range p.Filters {
		rc := mqtt.NoSubscriptionExisted
		if _, ok := s.subs[string(f)]; ok {
			// A publish on another loop may have seen this entry in one
			// trie shard and may yet see a later subscription of s in
			// another: from now on s may be matched twice (see flagMulti).
			s.flags.Or(flagMulti)
			ls.b.subs.Unsubscribe(string(f), s)
			delete(s.subs, string(f))
			if isSharedFilter(f) {
				ls.b.sharedSubs.Add(-1)
			}
			rc = mqtt.Success
		}
		codes = append(codes, rc)
	}
	ls.codes = codes
	cs.write(mqtt.AppendUnsuback(ls.enc[:0], cs.version, p.PacketID, codes, nil))
	return nil
}
