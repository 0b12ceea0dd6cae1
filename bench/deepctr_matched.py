#!/usr/bin/env python
"""DeepCTR on Keras 3 compiled as the zoo compiles: XLA and 8 steps per call.

The peer benchmark's `run_deepctr.py --keras 3` trains DeepCTR as its README
shows, `model.compile(optimizer, loss)`, which on a CPU-only machine means no
XLA (Keras' `"auto"`) and one step per call. The zoo compiles with both on, so
a ratio against that row measures the settings as much as the library. This
runs the same driver, the same data, the same model code, with
`keras.Model.compile` given `jit_compile=True, steps_per_execution=8`
(`zoo.models.task_training.DEFAULT_STEPS_PER_EXECUTION`); a model XLA cannot
compile fails here and is reported as failed.

Run with the DeepCTR environment, as `bench/peer_compare.py` does:

    /tmp/deepctrenv/bin/python bench/deepctr_matched.py --peer-work WORK --child \
        --model MMoE --repeat 1 --out /tmp/mmoe.json
"""

import sys

MATCHED = {"jit_compile": True, "steps_per_execution": 8}


def main():
    argv = list(sys.argv[1:])
    at = argv.index("--peer-work")
    work = argv[at + 1]
    del argv[at : at + 2]
    sys.path.insert(0, work)
    import keras
    import run_deepctr  # the peer benchmark's driver, from WORK

    compile_as_written = keras.Model.compile

    def compile_matched(self, *args, **kwargs):
        return compile_as_written(self, *args, **{**kwargs, **MATCHED})

    keras.Model.compile = compile_matched
    sys.argv = [run_deepctr.__file__, *argv, "--keras", "3"]
    run_deepctr.main()


if __name__ == "__main__":
    main()
