package node

import "github.com/takecare-network/takecare/node/internal/wire"

// Reading the length-delimited protobuf messages of the node's stream
// protocols, bounded in size (node/internal/wire).
var (
	readDelimited     = wire.ReadDelimited
	readDelimitedFrom = wire.ReadDelimitedFrom
)
