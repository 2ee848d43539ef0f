// Package mqtt is the MQTT 3.1, 3.1.1 and 5.0 codec: fixed header, every control
// packet and property, reason codes, and topic validation. Decoded packets are
// views into the caller's buffer; encoders append to a caller's slice. No I/O,
// no goroutines, standard library only.
package mqtt
