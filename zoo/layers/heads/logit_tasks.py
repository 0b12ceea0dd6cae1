"""Which tasks a logit head adds its logit to."""


def tasks_to_shift(head, tasks, chosen):
    """The names of the tasks whose logit `head` shifts, checked against the model's `tasks`.

    Args:
        head: the head (its name goes into the messages).
        tasks: the model's `zoo.tasks.Task`s.
        chosen: task names, or `None` for every binary and regression task (a
            constant shift of every class would not change a softmax).

    Raises:
        ValueError: a name that is not a task, or a multiclass task.
    """
    by_name = {t.name: t for t in tasks}
    if chosen is None:
        chosen = [t.name for t in tasks if t.output_units == 1]
    for name in chosen:
        if name not in by_name:
            raise ValueError(
                f"{head.name}: tasks names {name!r}, which is not a task; the tasks are "
                f"{list(by_name)}"
            )
        if by_name[name].output_units != 1:
            raise ValueError(
                f"{head.name}: task {name!r} is multiclass; a logit head shifts binary logits "
                "and regression values only"
            )
    return list(chosen)
