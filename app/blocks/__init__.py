"""Blocks in the app: group and ungroup as undo steps, instances drawn as one card, opening a block's
definition in the canvas (with a breadcrumb back), the instance inspector and the block library.

The document side (definitions, instances, expansion) is `engine.blocks` and its neighbours; this
package only shows it and turns gestures into undoable edits.
"""
