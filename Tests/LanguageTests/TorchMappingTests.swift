import Foundation
import Tensor
import XCTest

/// stdlib/torch.mn maps a PyTorch state_dict into Mnemo's layers. The
/// reference is PyTorch itself where it is installed, else NumPy computing
/// PyTorch's documented LSTM and Linear equations on PyTorch's layouts
/// (weight [out, in]; weight_ih, weight_hh, bias_ih, bias_hh, gates i, f, g, o).
final class TorchMappingTests: XCTestCase {
    func testLSTMAndLinearWeightsFromAStateDict() throws {
        let dir = NSTemporaryDirectory() + "/mnemo-torch-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let python = """
        import numpy as np
        rng = np.random.default_rng(4)
        T, I, H, O = 6, 3, 4, 2
        xs = rng.standard_normal((T, I)).astype(np.float32)
        try:
            import torch
            torch.manual_seed(0)
            rnn, fc = torch.nn.LSTM(I, H), torch.nn.Linear(H, O)
            state = {'rnn.' + k: v.detach().numpy() for k, v in rnn.state_dict().items()}
            state.update({'fc.' + k: v.detach().numpy() for k, v in fc.state_dict().items()})
            with torch.no_grad():
                out, _ = rnn(torch.from_numpy(xs).unsqueeze(1))
                expected = fc(out.squeeze(1)).numpy()
            print('torch')
        except ImportError:
            def w(*shape): return (rng.standard_normal(shape) * 0.5).astype(np.float32)
            state = {'rnn.weight_ih_l0': w(4 * H, I), 'rnn.weight_hh_l0': w(4 * H, H), 'rnn.bias_ih_l0': w(4 * H),
                     'rnn.bias_hh_l0': w(4 * H), 'fc.weight': w(O, H), 'fc.bias': w(O)}
            sig = lambda z: 1 / (1 + np.exp(-z))
            h, c, outs = np.zeros(H), np.zeros(H), []
            for x in xs.astype(np.float64):
                z = state['rnn.weight_ih_l0'] @ x + state['rnn.bias_ih_l0'] + state['rnn.weight_hh_l0'] @ h + state['rnn.bias_hh_l0']
                i, f, g, o = sig(z[:H]), sig(z[H:2*H]), np.tanh(z[2*H:3*H]), sig(z[3*H:])
                c = f * c + i * g
                h = o * np.tanh(c)
                outs.append(state['fc.weight'] @ h + state['fc.bias'])
            expected = np.array(outs, dtype=np.float32)
            print('numpy')
        np.savez('\(dir)/state.npz', **state)
        np.save('\(dir)/xs.npy', xs)
        np.save('\(dir)/expected.npy', expected)
        """
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", "-c", python]
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        do { try process.run() } catch { throw XCTSkip("python3 is not available") }
        let reference = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        let message = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        if message.contains("ModuleNotFoundError") { throw XCTSkip("NumPy is not available") }
        XCTAssertEqual(process.terminationStatus, 0, message)
        let script = dir + "/run.mn"
        try """
        import nn
        import torch
        let lstm = nn.LSTM(3, 4)
        let fc = nn.Linear(4, 2)
        let state = torch.load_state("\(dir)/state.npz")
        torch.lstm_from(state, "rnn", lstm.cell)
        torch.linear_from(state, "fc", fc)
        save("\(dir)/mnemo.npy", fc.forward(lstm.forward(load("\(dir)/xs.npy"))))
        """.write(toFile: script, atomically: true, encoding: .utf8)
        let run = try runMnemoProcess([script])
        XCTAssertEqual(run.status, 0, run.error)
        let mine = try NPY.read(path: dir + "/mnemo.npy"), expected = try NPY.read(path: dir + "/expected.npy")
        XCTAssertEqual(mine.shape, [6, 2])
        XCTAssertEqual(mine.shape, expected.shape)
        for (a, b) in zip(mine.data, expected.data) { XCTAssertEqual(a, b, accuracy: 2e-5, "against \(reference)") }
    }
}
