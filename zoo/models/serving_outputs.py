"""What a model's SavedModel signatures take and answer."""


class ServingOutputs:
    """A mixin of `MultiTaskModel`: its serving signatures and outputs."""

    def serving_signatures(self):
        """Dict from SavedModel signature name to the raw features it leaves out.

        `serving_default` first. A model trained on features that serving
        cannot know (the position a result will be shown at, read by a
        `BiasLogit` head with `known_at_serving=False`) leaves them out of
        its default signature; `with_bias_features` takes them too.
        """
        omitted = tuple(self.serving_omitted_features())
        if not omitted:
            return {"serving_default": ()}
        return {"serving_default": omitted, "with_bias_features": ()}

    def signature_features(self, features, signature="serving_default"):
        """`features` without the ones `signature` leaves out: what serving feeds the model."""
        excluded = set(self.serving_signatures()[signature])
        return {name: value for name, value in features.items() if name not in excluded}

    def outputs_with_extras(self, inputs):
        """The task predictions and any extra outputs a model serves, in one forward pass.

        The output head's extras (ESMM's pCVR, DLEN's P(UP)) and a routing
        head's towers (MFH's `<task>__<group>`) come with the predictions.
        """
        return self.all_outputs(inputs, training=False)

    def serving_outputs(self, features):
        """Dict of named outputs for serving, from preprocessed `features`.

        Each task's prediction, plus `ranking_score` with `ranking_weights`.
        Features a signature leaves out are absent from `features`.
        """
        if not self.built:  # outputs_with_extras may call sublayers without self(...)
            self.build()
        with self.preprocessed_inputs():
            outputs = self.outputs_with_extras(features)
        if self.ranking_weights:
            outputs["ranking_score"] = sum(
                weight * outputs[name] for name, weight in self.ranking_weights.items()
            )
        return outputs
