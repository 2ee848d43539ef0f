// Package broker implements MQTT semantics on top of loop, mqtt and trie:
// connections, sessions, routing, QoS flows, retained messages and wills.
package broker
