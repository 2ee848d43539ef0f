// Package mqtt is the MQTT 3.1, 3.1.1 and 5.0 codec: fixed header, every
// control packet and property, reason codes, and topic validation. No I/O, no
// goroutines, standard library only.
//
// # Framing
//
// PacketLength tells an incremental reader whether buf starts with a whole
// packet, how long it is, or that its announced size is already over the
// limit (ErrPacketTooLarge) or its remaining length is malformed. It looks at
// the fixed header only and copies nothing.
//
// # Decoding: views into the caller's buffer
//
// Each DecodeX(buf, version, *X) takes exactly one whole packet (fixed header
// included, as PacketLength delimits it) and fills a caller-owned struct in
// place. Every []byte in the result (topic, payload, client identifier,
// string and binary properties, UserProperties) is a view into buf, valid
// only as long as buf is not reused; ClonePublish copies a PUBLISH out in one
// allocation. Views have their capacity clipped, so appending to one cannot
// write into buf. Slices a struct owns (Subscribe.Filters,
// Properties.SubscriptionIDs, Suback.Reasons, ...) are truncated and appended
// to, so a struct reused by its owner stops allocating once grown. Decoding a
// PUBLISH, with or without properties, allocates nothing.
//
// version is the connection's protocol level (Version31, Version311,
// Version5); DecodeConnect learns it from the packet.
//
// # Errors
//
// A decoder returns nil or an *Error carrying the ReasonCode the peer must be
// told (MalformedPacket, ProtocolError, TopicNameInvalid, TopicFilterInvalid,
// TopicAliasInvalid, UnsupportedProtocolVersion, ClientIdentifierNotValid),
// the packet type, and the normative statement broken, if it has an id.
// ReasonCode implements error and *Error unwraps to it, so the broker maps
// any decoding failure to a CONNACK or DISCONNECT code in one place with
// ReasonOf(err) or errors.As. 3.1/3.1.1 connections have no reason codes on
// the wire: close the connection (CONNACK return codes come from
// ConnackReturnCode). Only failures allocate. No input makes a decoder
// panic; FuzzDecode and FuzzRoundTrip keep it so.
//
// Checks that need connection state stay with the caller: Topic Alias
// against the negotiated maximum, Subscription Identifiers in a client's
// PUBLISH ([MQTT-3.3.4-6]), Receive Maximum, packet identifiers in use, a
// second CONNECT, AUTH outside an authentication exchange.
//
// # Encoding
//
// AppendX(dst, ...) appends one packet to dst and returns the extended slice;
// it allocates only if dst must grow. XSize returns the same packet's size so
// a caller can check the peer's Maximum Packet Size first. Encoders write
// 5.0 properties in identifier order with user properties last, in their
// order, and skip properties the packet cannot carry. To forward a PUBLISH
// with per-subscriber changes, copy the Publish struct, change PacketID,
// QoS, Retain, Props.TopicAlias, Props.MessageExpiry or
// Props.SubscriptionIDs, and append it: the user property block is reused
// as it arrived.
//
// # Concurrency
//
// Functions hold no state: any goroutine may call them, on distinct structs
// and dst slices. A decoded struct, like its buffer, belongs to its caller.
//
// # Files
//
// header.go (types, fixed header, varint, PacketLength), reason.go (reason
// codes, *Error), properties.go, utf8.go, topic.go (names, filters, $share),
// connect.go (CONNECT, CONNACK), publish.go, ack.go (PUBACK, PUBREC, PUBREL,
// PUBCOMP), subscribe.go (SUBSCRIBE, SUBACK, UNSUBSCRIBE, UNSUBACK),
// disconnect.go (DISCONNECT, PINGREQ, PINGRESP), auth.go, packet.go (Packet,
// Decode and Append over every type, for clients, tests and fuzzing).
package mqtt
