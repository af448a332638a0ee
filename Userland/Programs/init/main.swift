/// The root domain. The kernel starts it at boot when there is an `init`
/// module and gives it the root capabilities: the console and what a
/// process gets. Every program started from the shell is its child in the
/// capability system: its quota comes out of init's, and its console
/// capability is derived from init's. init reports what it holds and then
/// serves an endpoint (nothing calls it yet: later issues add services).
enum Program {
  static let endpoint: UInt64 = 100

  static func main(argument: String) -> Int64 {
    var held = 0
    var slot: UInt64 = 1
    while slot < 64 {
      if case .success = Capabilities.inspect(slot) { held += 1 }
      slot += 1
    }
    guard Capabilities.createEndpoint(endpoint) == 0 else {
      print("init: cannot create its endpoint")
      return 1
    }
    print("init: process \(System.pid) is the root domain with \(held + 1) capabilities")
    while true {
      let request = IPC.receive(endpoint)
      if request.status != 0 { return 1 }
      IPC.reply(Message(request.message.words.0))
    }
  }
}
