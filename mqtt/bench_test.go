package mqtt

import (
	"strings"
	"testing"
)

func benchDecode(b *testing.B, raw []byte, version byte) {
	var p Publish
	b.SetBytes(int64(len(raw)))
	b.ReportAllocs()
	for b.Loop() {
		if err := DecodePublish(raw, version, &p); err != nil {
			b.Fatal(err)
		}
	}
}

func benchEncode(b *testing.B, raw []byte, version byte) {
	var p Publish
	if err := DecodePublish(raw, version, &p); err != nil {
		b.Fatal(err)
	}
	dst := make([]byte, 0, len(raw)+16)
	b.SetBytes(int64(len(raw)))
	b.ReportAllocs()
	for b.Loop() {
		dst = AppendPublish(dst[:0], version, &p)
	}
}

func BenchmarkDecodePublish311(b *testing.B) { benchDecode(b, publish311, Version311) }
func BenchmarkDecodePublish5(b *testing.B)   { benchDecode(b, publish5, Version5) }
func BenchmarkEncodePublish311(b *testing.B) { benchEncode(b, publish311, Version311) }
func BenchmarkEncodePublish5(b *testing.B)   { benchEncode(b, publish5, Version5) }

func BenchmarkPacketLength(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if n, _ := PacketLength(publish5, 1<<20); n == 0 {
			b.Fatal("incomplete")
		}
	}
}

func BenchmarkDecodeSubscribe5(b *testing.B) {
	raw := pkt(0x82, u16(1), props(0x0B, vbi(5)), str("home/+/temp"), 1, str("$share/g/jobs/#"), 2, str("a/b/c/d"), 0)
	var s Subscribe
	b.ReportAllocs()
	for b.Loop() {
		if err := DecodeSubscribe(raw, Version5, &s); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkValidTopicName(b *testing.B) {
	topic := []byte("factory/line-7/station-42/sensors/temperature/celsius/average-1m")
	b.SetBytes(int64(len(topic)))
	b.ReportAllocs()
	for b.Loop() {
		if err := ValidTopicName(topic, Version5); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkValidUTF8String(b *testing.B) {
	s := []byte(strings.Repeat("user-property value, mostly ASCII ", 8))
	b.SetBytes(int64(len(s)))
	b.ReportAllocs()
	for b.Loop() {
		if err := ValidUTF8String(s); err != nil {
			b.Fatal(err)
		}
	}
}
