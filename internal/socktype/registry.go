// Package socktype holds what each socket type means to the engine: one
// engine.Behavior per family (pipeline, dealer and pair, request, reply,
// router, publish, subscribe, bus) and the registry that finds a type's.
//
// The engine knows no type by name. A new type is a file here with its
// Behavior, and one line in registry below; a Behavior that lacks a method
// does not compile.
package socktype

import "github.com/wispmq/wisp/internal/engine"

// registry maps each socket type to the constructor of its behaviour.
var registry = map[engine.Type]func(*engine.Engine) engine.Behavior{
	engine.Push:   newPush,
	engine.Pull:   newPull,
	engine.Dealer: newDealer,
	engine.Pair:   newPair,
	engine.Req:    newReq,
	engine.Rep:    newRep,
	engine.Router: newRouter,
	engine.Pub:    newPub,
	engine.XPub:   newXPub,
	engine.Sub:    newSub,
	engine.XSub:   newXSub,
	engine.Bus:    newBus,
}

// Lookup returns the constructor of type t's behaviour, or false for a
// type that has none.
func Lookup(t engine.Type) (func(*engine.Engine) engine.Behavior, bool) {
	f, ok := registry[t]
	return f, ok
}
