package mqtt

import (
	"errors"
	"strconv"
)

// ReasonCode is an MQTT 5.0 reason code (section 2.4). It implements error,
// so a handler can return one and a single place can turn it into a CONNACK,
// PUBACK, SUBACK or DISCONNECT code. Codes below 0x80 are not failures but
// still satisfy error; compare with Success rather than nil where a code is
// expected. Several codes share a value (0x00 is Success, NormalDisconnection
// and GrantedQoS0); String gives the general name.
type ReasonCode byte

// The reason codes of MQTT 5.0, named as in the specification's table 2-6.
const (
	Success                             ReasonCode = 0x00
	NormalDisconnection                 ReasonCode = 0x00
	GrantedQoS0                         ReasonCode = 0x00
	GrantedQoS1                         ReasonCode = 0x01
	GrantedQoS2                         ReasonCode = 0x02
	DisconnectWithWill                  ReasonCode = 0x04
	NoMatchingSubscribers               ReasonCode = 0x10
	NoSubscriptionExisted               ReasonCode = 0x11
	ContinueAuthentication              ReasonCode = 0x18
	ReAuthenticate                      ReasonCode = 0x19
	UnspecifiedError                    ReasonCode = 0x80
	MalformedPacket                     ReasonCode = 0x81
	ProtocolError                       ReasonCode = 0x82
	ImplementationSpecificError         ReasonCode = 0x83
	UnsupportedProtocolVersion          ReasonCode = 0x84
	ClientIdentifierNotValid            ReasonCode = 0x85
	BadUserNameOrPassword               ReasonCode = 0x86
	NotAuthorized                       ReasonCode = 0x87
	ServerUnavailable                   ReasonCode = 0x88
	ServerBusy                          ReasonCode = 0x89
	Banned                              ReasonCode = 0x8A
	ServerShuttingDown                  ReasonCode = 0x8B
	BadAuthenticationMethod             ReasonCode = 0x8C
	KeepAliveTimeout                    ReasonCode = 0x8D
	SessionTakenOver                    ReasonCode = 0x8E
	TopicFilterInvalid                  ReasonCode = 0x8F
	TopicNameInvalid                    ReasonCode = 0x90
	PacketIdentifierInUse               ReasonCode = 0x91
	PacketIdentifierNotFound            ReasonCode = 0x92
	ReceiveMaximumExceeded              ReasonCode = 0x93
	TopicAliasInvalid                   ReasonCode = 0x94
	PacketTooLarge                      ReasonCode = 0x95
	MessageRateTooHigh                  ReasonCode = 0x96
	QuotaExceeded                       ReasonCode = 0x97
	AdministrativeAction                ReasonCode = 0x98
	PayloadFormatInvalid                ReasonCode = 0x99
	RetainNotSupported                  ReasonCode = 0x9A
	QoSNotSupported                     ReasonCode = 0x9B
	UseAnotherServer                    ReasonCode = 0x9C
	ServerMoved                         ReasonCode = 0x9D
	SharedSubscriptionsNotSupported     ReasonCode = 0x9E
	ConnectionRateExceeded              ReasonCode = 0x9F
	MaximumConnectTime                  ReasonCode = 0xA0
	SubscriptionIdentifiersNotSupported ReasonCode = 0xA1
	WildcardSubscriptionsNotSupported   ReasonCode = 0xA2
)

var reasonNames = map[ReasonCode]string{
	0x00: "Success",
	0x01: "Granted QoS 1",
	0x02: "Granted QoS 2",
	0x04: "Disconnect with Will Message",
	0x10: "No matching subscribers",
	0x11: "No subscription existed",
	0x18: "Continue authentication",
	0x19: "Re-authenticate",
	0x80: "Unspecified error",
	0x81: "Malformed Packet",
	0x82: "Protocol Error",
	0x83: "Implementation specific error",
	0x84: "Unsupported Protocol Version",
	0x85: "Client Identifier not valid",
	0x86: "Bad User Name or Password",
	0x87: "Not authorized",
	0x88: "Server unavailable",
	0x89: "Server busy",
	0x8A: "Banned",
	0x8B: "Server shutting down",
	0x8C: "Bad authentication method",
	0x8D: "Keep Alive timeout",
	0x8E: "Session taken over",
	0x8F: "Topic Filter invalid",
	0x90: "Topic Name invalid",
	0x91: "Packet Identifier in use",
	0x92: "Packet Identifier not found",
	0x93: "Receive Maximum exceeded",
	0x94: "Topic Alias invalid",
	0x95: "Packet too large",
	0x96: "Message rate too high",
	0x97: "Quota exceeded",
	0x98: "Administrative action",
	0x99: "Payload format invalid",
	0x9A: "Retain not supported",
	0x9B: "QoS not supported",
	0x9C: "Use another server",
	0x9D: "Server moved",
	0x9E: "Shared Subscriptions not supported",
	0x9F: "Connection rate exceeded",
	0xA0: "Maximum connect time",
	0xA1: "Subscription Identifiers not supported",
	0xA2: "Wildcard Subscriptions not supported",
}

// String returns the specification's name of the code ("Malformed Packet"),
// or "reason code 0xNN" for a value the specification does not define.
func (c ReasonCode) String() string {
	if s, ok := reasonNames[c]; ok {
		return s
	}
	return "reason code 0x" + strconv.FormatUint(uint64(c), 16)
}

// Error returns String, so a ReasonCode is an error.
func (c ReasonCode) Error() string { return c.String() }

// Known reports whether the specification defines c.
func (c ReasonCode) Known() bool { _, ok := reasonNames[c]; return ok }

// IsError reports whether c signals a failure (0x80 and above).
func (c ReasonCode) IsError() bool { return c >= 0x80 }

// ConnackReturnCode maps a 5.0 CONNACK reason code to the 3.1/3.1.1 CONNACK
// return code (0 accepted, 1 unacceptable protocol version, 2 identifier
// rejected, 3 server unavailable, 4 bad user name or password, 5 not
// authorized). Failures with no 3.1.1 equivalent become 3 (server
// unavailable), the closest "try again later" answer.
func ConnackReturnCode(c ReasonCode) byte {
	switch c {
	case Success:
		return 0
	case UnsupportedProtocolVersion:
		return 1
	case ClientIdentifierNotValid:
		return 2
	case ServerUnavailable, ServerBusy, ServerShuttingDown, UseAnotherServer, ServerMoved,
		ConnectionRateExceeded, QuotaExceeded, UnspecifiedError, ImplementationSpecificError:
		return 3
	case BadUserNameOrPassword, BadAuthenticationMethod:
		return 4
	case NotAuthorized, Banned:
		return 5
	default:
		return 3
	}
}

// ReasonFromReturnCode maps a 3.1/3.1.1 CONNACK return code back to the 5.0
// reason code that ConnackReturnCode maps to it; unknown values (6..255,
// reserved) give UnspecifiedError.
func ReasonFromReturnCode(rc byte) ReasonCode {
	switch rc {
	case 0:
		return Success
	case 1:
		return UnsupportedProtocolVersion
	case 2:
		return ClientIdentifierNotValid
	case 3:
		return ServerUnavailable
	case 4:
		return BadUserNameOrPassword
	case 5:
		return NotAuthorized
	}
	return UnspecifiedError
}

// Error is a decoding failure: the reason code the peer must be told (or, in
// 3.1.1, the reason the connection is closed), the packet being decoded, the
// rule of the specification that was broken, and a detail. errors.As(err,
// &rc) with rc a ReasonCode, and errors.Is(err, MalformedPacket), see the
// code through Unwrap. Decoders return *Error only on failure, so the success
// path allocates nothing.
type Error struct {
	Reason ReasonCode // what to answer with (CONNACK, DISCONNECT, SUBACK)
	Packet PacketType // the packet being decoded
	Rule   string     // the normative statement, "MQTT-3.3.1-4", or ""
	Detail string     // what was wrong
}

// Error formats "mqtt: PUBLISH: Malformed Packet: QoS 3 [MQTT-3.3.1-4]";
// the packet is left out when unknown (0), as for ValidTopicName's errors.
func (e *Error) Error() string {
	s := "mqtt: "
	if e.Packet != 0 {
		s += e.Packet.String() + ": "
	}
	s += e.Reason.String()
	if e.Detail != "" {
		s += ": " + e.Detail
	}
	if e.Rule != "" {
		s += " [" + e.Rule + "]"
	}
	return s
}

// Unwrap returns the reason code.
func (e *Error) Unwrap() error { return e.Reason }

// ReasonOf returns the reason code carried by err: Success for nil, the code
// for a ReasonCode or an error wrapping one, and UnspecifiedError otherwise.
func ReasonOf(err error) ReasonCode {
	if err == nil {
		return Success
	}
	var rc ReasonCode
	if errors.As(err, &rc) {
		return rc
	}
	return UnspecifiedError
}

// perr builds a decoding error.
func perr(t PacketType, rc ReasonCode, rule, detail string) error {
	return &Error{Reason: rc, Packet: t, Rule: rule, Detail: detail}
}

// errVarintTooLong is readVarint's internal signal; callers turn it into a
// fresh *Error, so no caller ever holds (and could change) a shared one.
var errVarintTooLong = errors.New("variable byte integer longer than four bytes")

// Valid reason codes per packet (5.0 sections 3.4.2.1, 3.5.2.1, 3.6.2.1,
// 3.7.2.1, 3.9.3, 3.11.3, 3.14.2.1, 3.15.2.1, 3.2.2.2).
func validReason(t PacketType, c ReasonCode) bool {
	switch t {
	case PUBACK, PUBREC:
		switch c {
		case Success, NoMatchingSubscribers, UnspecifiedError, ImplementationSpecificError,
			NotAuthorized, TopicNameInvalid, PacketIdentifierInUse, QuotaExceeded, PayloadFormatInvalid:
			return true
		}
	case PUBREL, PUBCOMP:
		return c == Success || c == PacketIdentifierNotFound
	case SUBACK:
		switch c {
		case GrantedQoS0, GrantedQoS1, GrantedQoS2, UnspecifiedError, ImplementationSpecificError,
			NotAuthorized, TopicFilterInvalid, PacketIdentifierInUse, QuotaExceeded,
			SharedSubscriptionsNotSupported, SubscriptionIdentifiersNotSupported,
			WildcardSubscriptionsNotSupported:
			return true
		}
	case UNSUBACK:
		switch c {
		case Success, NoSubscriptionExisted, UnspecifiedError, ImplementationSpecificError,
			NotAuthorized, TopicFilterInvalid, PacketIdentifierInUse:
			return true
		}
	case AUTH:
		return c == Success || c == ContinueAuthentication || c == ReAuthenticate
	case CONNACK:
		return connackReason(c)
	case DISCONNECT:
		return c == NormalDisconnection || c == DisconnectWithWill || disconnectReason(c)
	}
	return false
}

func connackReason(c ReasonCode) bool {
	switch c {
	case Success, UnspecifiedError, MalformedPacket, ProtocolError, ImplementationSpecificError,
		UnsupportedProtocolVersion, ClientIdentifierNotValid, BadUserNameOrPassword, NotAuthorized,
		ServerUnavailable, ServerBusy, Banned, BadAuthenticationMethod, TopicNameInvalid,
		PacketTooLarge, QuotaExceeded, PayloadFormatInvalid, RetainNotSupported, QoSNotSupported,
		UseAnotherServer, ServerMoved, ConnectionRateExceeded:
		return true
	}
	return false
}

func disconnectReason(c ReasonCode) bool {
	switch c {
	case UnspecifiedError, MalformedPacket, ProtocolError, ImplementationSpecificError, NotAuthorized,
		ServerBusy, ServerShuttingDown, KeepAliveTimeout, SessionTakenOver, TopicFilterInvalid,
		TopicNameInvalid, ReceiveMaximumExceeded, TopicAliasInvalid, PacketTooLarge, MessageRateTooHigh,
		QuotaExceeded, AdministrativeAction, PayloadFormatInvalid, RetainNotSupported, QoSNotSupported,
		UseAnotherServer, ServerMoved, SharedSubscriptionsNotSupported, ConnectionRateExceeded,
		MaximumConnectTime, SubscriptionIdentifiersNotSupported, WildcardSubscriptionsNotSupported:
		return true
	}
	return false
}
