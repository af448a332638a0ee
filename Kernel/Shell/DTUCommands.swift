/// `eps` and `dtu`: what the software DTUs of this instance hold. Each
/// node's endpoint table (Core's listing), the ring behind every receive
/// endpoint with the region it lies in, and the counters of the kernel's
/// part of the protocol (wakes, sleeps, unread messages at revocation).
enum DTUCommands {
  /// `eps [node]`.
  static func eps(_ arguments: [String]) { eps(arguments, prefix: "") }

  /// `eps` with every line after `prefix` (the LWK instance's: "lwk: ").
  static func eps(_ arguments: [String], prefix: String) {
    var only: Int? = nil
    if arguments.count == 1, let node = ShellCommand.parseUnsigned(arguments[0]) {
      only = Int(node)
    } else if !arguments.isEmpty {
      print(prefix + "usage: eps [NODE]")
      return
    }
    if let only, DTU.tableIndex(node: only) == nil {
      print(prefix + "eps: node \(only) has no DTU (no ring region)")
      return
    }
    ProcessRunner.reap()  // ended programs' endpoints go with them
    KernelLock.held {
      print(prefix + EndpointListingFormat.header)
      var count = 0
      for table in DTU.tables where only == nil || Int(table.node) == only {
        for row in table.listing() {
          print(prefix + EndpointListingFormat.line(row))
          count += 1
        }
      }
      var rings: [ReceiveEndpoint] = []
      for case .receiveEndpoint(let endpoint) in KernelObjects.table
      where only == nil || endpoint.node == only {
        rings.append(endpoint)
      }
      rings.sort { $0.id.rawValue < $1.id.rawValue }
      for endpoint in rings {
        let region = NodeRings.regions.first { $0.range.contains(endpoint.physical) }
        print(
          prefix
            + "  \(endpoint.id.description) ring at \(hex(endpoint.physical)), \(endpoint.pages) pages, in node \(region.map { String($0.node) } ?? "?")'s ring region"
        )
      }
      if count == 0 { print(prefix + "(no endpoints)") }
    }
  }

  /// `dtu [stats]`.
  static func dtu(_ arguments: [String]) { dtu(arguments, prefix: "") }

  static func dtu(_ arguments: [String], prefix: String) {
    guard arguments.isEmpty || arguments == ["stats"] else {
      print(prefix + "usage: dtu [stats]")
      return
    }
    ProcessRunner.reap()
    KernelLock.held {
      for region in NodeRings.regions {
        let table = DTU.tableIndex(node: region.node).map { DTU.tables[$0] }
        let kernel = KernelRing.all.filter { region.range.contains($0.physical) }
        let rings =
          kernel.isEmpty
          ? ""
          : " (\(kernel.reduce(0) { $0 + $1.pages }) in \(kernel.count) kernel ring\(kernel.count == 1 ? "" : "s"): function shipping)"
        print(
          prefix
            + "dtu: node \(region.node): ring region \(region.range.description), this instance's half \(region.pages.freePages) of \(region.pages.pages) pages free\(rings), \(table?.allocatedCount ?? 0) endpoints"
        )
      }
      print(
        prefix
          + "dtu: \(DTU.wakes) wakes of sleeping receivers, \(DTU.sleeps) sleeps in dtuWait, \(DTU.unreadAtRevoke) messages unread at revocation"
      )
      if let summary = EndpointDelegation.summary { print(prefix + "dtu: " + summary) }
    }
  }
}
