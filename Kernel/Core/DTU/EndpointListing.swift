// What the shell's `eps [node]` command shows of an endpoint table: one row
// of plain values per allocated endpoint (so tests and other tools read the
// values, not text), and a separate formatter for the console.
//
// Columns: the endpoint, its kind, the node it reaches (a receive endpoint's
// own node, a send endpoint's target node, a memory window's node), its
// owner, the label (send), the credits (send: messages in flight at most),
// and for a receive endpoint the slots reserved by channels in use out of
// all its slots. Occupancy of the rings is not here: the rings keep it, not
// the table.

public struct EndpointListingRow: Equatable, Hashable, Sendable {
  public var id: EndpointAddress
  /// nil: allocated, not configured.
  public var kind: EndpointKind?
  public var node: UInt16
  public var owner: UInt64?
  public var label: UInt64?
  public var credits: UInt32?
  /// Receive endpoints: slots of the channels in use.
  public var slotsUsed: UInt32?
  /// Receive endpoints: all slots of the ring.
  public var slots: UInt32?
  public var active: Bool

  public init(_ entry: EndpointEntry) {
    id = entry.id
    kind = entry.configuration?.kind
    node = entry.id.node
    active = entry.active
    switch entry.configuration {
    case nil: break
    case .receive(let receive)?:
      owner = receive.owner
      slotsUsed = receive.slotsInUse
      slots = receive.slotCount
    case .send(let send)?:
      owner = send.owner
      node = send.target.node
      label = send.label
      credits = send.credits
    case .memory(let memory)?:
      owner = memory.owner
      node = memory.node
    }
  }
}

extension EndpointTable {
  /// The rows of every allocated endpoint, in endpoint order. Allocates the
  /// array: for the shell, not for a fast path.
  public func listing() -> [EndpointListingRow] {
    var rows: [EndpointListingRow] = []
    rows.reserveCapacity(allocatedCount)
    forEachEntry { rows.append(EndpointListingRow($0)) }
    return rows
  }
}

/// Console text for listing rows.
public enum EndpointListingFormat {
  public static let header =
    "endpoint   kind     node  owner               label               credits  slots     active"

  /// One line, aligned under `header`; "-" where a column does not apply.
  public static func line(_ row: EndpointListingRow) -> String {
    let kind = row.kind?.description ?? "(none)"
    let owner = row.owner.map { "0x" + String($0, radix: 16) } ?? "-"
    let label = row.label.map { "0x" + String($0, radix: 16) } ?? "-"
    let credits = row.credits.map { String($0) } ?? "-"
    var slots = "-"
    if let used = row.slotsUsed, let all = row.slots { slots = String(used) + "/" + String(all) }
    return row.id.description.padded(to: 11) + kind.padded(to: 9)
      + String(row.node).padded(to: 6) + owner.padded(to: 20) + label.padded(to: 20)
      + credits.padded(to: 9) + slots.padded(to: 10) + (row.active ? "yes" : "no")
  }
}
