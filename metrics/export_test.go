package metrics

import "unsafe"

const sizeofLoop = unsafe.Sizeof(Loop{})

func uintptrOf[T any](p *T) uintptr { return uintptr(unsafe.Pointer(p)) }
