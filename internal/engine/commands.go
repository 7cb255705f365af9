package engine

// Commands outside the data stream. A behaviour queues them for a
// connection (SUBSCRIBE and CANCEL, say): they go out before queued data,
// are never dropped at a high-water mark, and a later command about the
// same Data replaces one not yet written, so a burst of changes to one
// subscription costs one command.

// maxQueuedCommandsPerWrite bounds the queued commands one write carries,
// so a burst of thousands goes out in a few writes of bounded size.
const maxQueuedCommandsPerWrite = 1024

// queueCommandLocked queues cmd for the connection and wakes the writer.
// Callers hold Engine.mu.
func (c *conn) queueCommandLocked(cmd Command) {
	c.s.mu.AssertHeld()
	key := string(cmd.Data)
	if c.cmdPending == nil {
		c.cmdPending = make(map[string]CommandKind)
	}
	if _, queued := c.cmdPending[key]; !queued {
		c.cmdOrder = append(c.cmdOrder, key)
	}
	c.cmdPending[key] = cmd.Kind
	c.cmdsQueued.Store(true)
	c.signal()
}

// takeQueuedCommands appends the commands waiting for the connection to
// cmds, at most maxQueuedCommandsPerWrite of them. Writer role.
func (c *conn) takeQueuedCommands(cmds []Command) []Command {
	s := c.s
	s.mu.Lock()
	defer s.mu.Unlock()
	n := min(len(c.cmdOrder), maxQueuedCommandsPerWrite)
	for _, key := range c.cmdOrder[:n] {
		cmds = append(cmds, Command{Kind: c.cmdPending[key], Data: []byte(key)})
		delete(c.cmdPending, key)
	}
	clear(c.cmdOrder[:n])
	c.cmdOrder = c.cmdOrder[n:]
	if len(c.cmdOrder) == 0 {
		c.cmdOrder = nil
		c.cmdsQueued.Store(false)
	}
	return cmds
}
