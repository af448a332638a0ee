/// The first user program: prints a greeting with its process id and argument.
enum Program {
  static func main(argument: String) -> Int64 {
    print("Hello from user space! I am process \(System.pid).")
    if !argument.isEmpty { print("You said: \(argument)") }
    var squares: [Int] = []
    for i in 1...5 { squares.append(i * i) }
    print(
      "Squares computed in ring 3: \(squares[0]) \(squares[1]) \(squares[2]) \(squares[3]) \(squares[4])"
    )
    return 0
  }
}
