// The derivation tree: which capability was derived from which, across every
// capability space of one kernel instance. A copy or mint is a child of its
// source; a capability made when an object is created is a root (an
// original) unless the object was derived from another capability.
//
// Nodes live in one array and link by index: parent, first child, and a
// doubly linked list of siblings. So inserting a child and unlinking a leaf
// are O(1), and a capability's slot only stores its node index: a move
// between slots or spaces touches no link at all. Removing a node that has
// children hands them to its parent in its place (O(number of children));
// the children of a removed original become originals. Every descendant of a
// node therefore stays a descendant of each of the node's ancestors, which is
// what makes "no capability outlives its ancestor's revoke" hold.
//
// Revocation (in CapabilitySystem) walks a subtree without recursion, with
// `firstChild` and `parent` only: descend to a leaf, remove it, step back to
// its parent, repeat. Each node is descended into and removed once, so the
// walk is linear in the size of the subtree and needs no stack.

struct DerivationTree {
  /// The null link.
  static let none: UInt32 = .max

  /// What a node records: the capability and where it lives.
  struct Entry: Equatable {
    var capability: Capability
    /// The index of the capability space.
    var space: UInt32
    var slot: UInt32
  }

  struct Node {
    var entry: Entry
    var parent = DerivationTree.none
    var firstChild = DerivationTree.none
    /// While the node is free, the next free node.
    var nextSibling = DerivationTree.none
    var previousSibling = DerivationTree.none
    /// Bumped when the node is freed, so old CapabilityIDs go stale.
    var generation: UInt32 = 0
    var inUse = true
  }

  private(set) var nodes: [Node] = []
  private var freeHead = DerivationTree.none
  /// Nodes in use.
  private(set) var count = 0
  /// The most nodes the tree will hold (at most UInt32.max: `none` is no index).
  let maxNodes: Int

  init(maxNodes: Int) {
    self.maxNodes = min(max(maxNodes, 0), Int(UInt32.max))
  }

  func entry(_ node: UInt32) -> Entry { nodes[Int(node)].entry }
  func parent(of node: UInt32) -> UInt32 { nodes[Int(node)].parent }
  func firstChild(of node: UInt32) -> UInt32 { nodes[Int(node)].firstChild }
  func nextSibling(of node: UInt32) -> UInt32 { nodes[Int(node)].nextSibling }
  func previousSibling(of node: UInt32) -> UInt32 { nodes[Int(node)].previousSibling }
  func id(of node: UInt32) -> CapabilityID {
    CapabilityID(index: node, generation: nodes[Int(node)].generation)
  }

  /// The node `id` names, or nil when that capability no longer exists.
  func node(for id: CapabilityID) -> UInt32? {
    let index = Int(id.index)
    guard index < nodes.count, nodes[index].inUse, nodes[index].generation == id.generation
    else { return nil }
    return id.index
  }

  mutating func setLocation(of node: UInt32, space: UInt32, slot: UInt32) {
    nodes[Int(node)].entry.space = space
    nodes[Int(node)].entry.slot = slot
  }

  /// Whether a node can be inserted.
  var isFull: Bool { freeHead == DerivationTree.none && nodes.count >= maxNodes }

  /// A new node for `entry`, the first child of `parent` (or an original when
  /// `parent` is none); nil when the tree is full.
  mutating func insert(_ entry: Entry, parent: UInt32) -> UInt32? {
    let node: UInt32
    if freeHead != DerivationTree.none {
      node = freeHead
      freeHead = nodes[Int(node)].nextSibling
      let generation = nodes[Int(node)].generation
      nodes[Int(node)] = Node(entry: entry, generation: generation)
    } else {
      guard nodes.count < maxNodes else { return nil }
      node = UInt32(nodes.count)
      nodes.append(Node(entry: entry))
    }
    if parent != DerivationTree.none {
      let first = nodes[Int(parent)].firstChild
      nodes[Int(node)].parent = parent
      nodes[Int(node)].nextSibling = first
      if first != DerivationTree.none { nodes[Int(first)].previousSibling = node }
      nodes[Int(parent)].firstChild = node
    }
    count += 1
    return node
  }

  /// Removes `node` and returns its entry. Its children take its place among
  /// its parent's children (or become originals).
  mutating func remove(_ node: UInt32) -> Entry {
    let parent = nodes[Int(node)].parent
    let previous = nodes[Int(node)].previousSibling
    let next = nodes[Int(node)].nextSibling
    let first = nodes[Int(node)].firstChild
    if first == DerivationTree.none {
      link(previous, next, parent: parent)
    } else if parent == DerivationTree.none {
      // An original has no siblings; each child becomes an original.
      var child = first
      while child != DerivationTree.none {
        let following = nodes[Int(child)].nextSibling
        nodes[Int(child)].parent = DerivationTree.none
        nodes[Int(child)].previousSibling = DerivationTree.none
        nodes[Int(child)].nextSibling = DerivationTree.none
        child = following
      }
    } else {
      // Splice the children into the parent's list where the node was.
      var child = first
      var last = first
      while child != DerivationTree.none {
        nodes[Int(child)].parent = parent
        last = child
        child = nodes[Int(child)].nextSibling
      }
      link(previous, first, parent: parent)
      link(last, next, parent: parent)
    }
    let entry = nodes[Int(node)].entry
    nodes[Int(node)].inUse = false
    nodes[Int(node)].generation &+= 1
    nodes[Int(node)].parent = DerivationTree.none
    nodes[Int(node)].firstChild = DerivationTree.none
    nodes[Int(node)].previousSibling = DerivationTree.none
    nodes[Int(node)].nextSibling = freeHead
    freeHead = node
    count -= 1
    return entry
  }

  /// Makes `next` follow `previous` among the children of `parent`; a
  /// `previous` of none makes `next` the first child.
  private mutating func link(_ previous: UInt32, _ next: UInt32, parent: UInt32) {
    if previous != DerivationTree.none {
      nodes[Int(previous)].nextSibling = next
    } else if parent != DerivationTree.none {
      nodes[Int(parent)].firstChild = next
    }
    if next != DerivationTree.none { nodes[Int(next)].previousSibling = previous }
  }

  /// A description of the first broken link, or nil: every child's parent
  /// link matches the list it is on, sibling links agree both ways, and every
  /// node in use is reached exactly once from the originals (so no cycles).
  func linkViolation() -> String? {
    var reached = 0
    var inUse = 0
    var stack: [UInt32] = []
    for index in nodes.indices where nodes[index].inUse {
      inUse += 1
      let node = nodes[index]
      if node.parent == DerivationTree.none {
        guard node.previousSibling == DerivationTree.none, node.nextSibling == DerivationTree.none
        else { return "original " + String(index) + " has siblings" }
        stack.append(UInt32(index))
      } else if !nodes[Int(node.parent)].inUse {
        return "node " + String(index) + " has a free parent"
      }
    }
    while let node = stack.popLast() {
      reached += 1
      guard reached <= inUse else { return "a cycle in the tree" }
      var previous = DerivationTree.none
      var child = nodes[Int(node)].firstChild
      var steps = 0
      while child != DerivationTree.none {
        steps += 1
        guard steps <= inUse else { return "a cycle among the children of " + String(node) }
        let links = nodes[Int(child)]
        guard links.inUse, links.parent == node, links.previousSibling == previous else {
          return "child " + String(child) + " of " + String(node) + " is mislinked"
        }
        stack.append(child)
        previous = child
        child = links.nextSibling
      }
    }
    guard reached == inUse, inUse == count else {
      return String(reached) + " nodes reached of " + String(inUse) + " in use, count "
        + String(count)
    }
    return nil
  }
}
