/// Delegation and revocation, end to end. The parent creates a page and an
/// endpoint, starts a child holding the endpoint, and sends it a capability
/// to the page. The child maps the page and reads it. The parent revokes its
/// capability, which removes the child's copy and unmaps the page from the
/// child; the child's next read faults, the kernel reports it and destroys
/// the child, and the parent carries on.
enum Program {
  static let page: UInt64 = 20
  static let endpoint: UInt64 = 21
  static let readOnly: UInt64 = 22
  static let parentView: UInt64 = 0x0000_1000_0000_0000
  static let childView: UInt64 = 0x0000_1100_0000_0000
  static let read: UInt64 = 1
  static let quit: UInt64 = 2

  /// Argument: "child" (internal), or the service CPU for the child
  /// (default: this one), so that the revoke's TLB shootdown is what takes
  /// the page away from a child running on another CPU.
  static func main(argument: String) -> Int64 {
    if argument == "child" { return child() }
    var cpu = SystemCallCPU.same
    if !argument.isEmpty {
      guard let number = UInt64(argument) else {
        print("usage: capdemo [CPU]")
        return 2
      }
      cpu = number
    }
    return parent(childCPU: cpu)
  }

  static func parent(childCPU: UInt64) -> Int64 {
    let pid = System.pid
    guard Capabilities.createMemory(page, pages: 1) == 0,
      Capabilities.map(page, at: parentView, rights: SystemCallRights.write) == 0,
      Capabilities.createEndpoint(endpoint) == 0,
      // The child gets a read-only copy (grant kept so IPC can carry it).
      Capabilities.copy(
        page, to: readOnly, rights: SystemCallRights.read | SystemCallRights.grant) == 0
    else {
      print("capdemo: cannot set up the page and the endpoint")
      return 1
    }
    let text = "a page shared by process \(pid)"
    let bytes = UnsafeMutablePointer<UInt8>(bitPattern: UInt(parentView))!
    for (i, byte) in text.utf8.enumerated() { bytes[i] = byte }
    bytes[text.utf8.count] = 0

    let child = Children.spawn("capdemo", argument: "child", give: endpoint, cpu: childCPU)
    guard child > 0 else {
      print("capdemo: spawn failed: \(resultName(child))")
      return 1
    }
    print("capdemo: parent \(pid) started child \(child), sending it the page")
    let (status, answer) = IPC.call(endpoint, Message(read), transfer: readOnly)
    print("capdemo: child answered \(resultName(status)), it read \(answer.words.0) bytes")

    let removed = Capabilities.revoke(page)
    print(
      "capdemo: parent revoked the page: \(removed) capabilities removed (its read-only copy and the child's)"
    )
    // Still the parent's: its own mapping was made through the capability it kept.
    print("capdemo: parent still reads \"\(string(at: parentView))\"")
    IPC.send(endpoint, Message(read))
    let ended = Children.wait(child)
    if ended == SystemCallError.childFaulted.rawValue {
      print("capdemo: child \(child) faulted on its next access, as it must after the revoke")
      return 0
    }
    print("capdemo: child \(child) ended with \(resultName(ended)) instead of faulting")
    return 1
  }

  static func child() -> Int64 {
    let endpoint = InitialSlot.given
    let received: UInt64 = 10
    var message = IPC.receive(endpoint, into: received)
    guard message.status == 0, message.capabilitySlot == received else {
      print("capdemo child: no page arrived (\(resultName(message.status)))")
      return 1
    }
    let mapped = Capabilities.map(received, at: childView, rights: SystemCallRights.read)
    guard mapped == 0 else {
      print("capdemo child: cannot map the page: \(resultName(mapped))")
      return 1
    }
    var rights = "?"
    if case .success(let info) = Capabilities.inspect(received) {
      rights = Capabilities.describe(rights: info.rights)
    }
    let text = string(at: childView)
    print("capdemo child: process \(System.pid) reads \"\(text)\" through a \(rights) capability")
    while true {
      message = IPC.replyReceive(endpoint, Message(UInt64(text.utf8.count)))
      guard message.status == 0, message.message.words.0 == read else { return 0 }
      print("capdemo child: reading the page again")
      print("capdemo child: read \"\(string(at: childView))\"")
    }
  }

  static func string(at address: UInt64) -> String {
    let bytes = UnsafePointer<UInt8>(bitPattern: UInt(address))!
    var length = 0
    while length < 4095 && bytes[length] != 0 { length += 1 }
    return String(decoding: UnsafeBufferPointer(start: bytes, count: length), as: UTF8.self)
  }
}
